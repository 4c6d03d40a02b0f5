// Ask: the question, progress while the server works, then the answer (or "I don't know"), its citations, the
// graph paths drawn, and the plan and timings folded away.

import { call } from "./api.js";
import { openDocument } from "./documents.js";
import { $, button, make, showPanel } from "./dom.js";
import { exploreEntity, layOut } from "./explore.js";
import { guarded } from "./feedback.js";
import { GraphModel, drawGraph } from "./graph.js";

function startProgress() {
  const started = performance.now();
  const text = $("ask-progress-text");
  $("ask-progress").hidden = false;
  $("ask-button").disabled = true;
  text.textContent = "Finding evidence and reading it…";
  const timer = setInterval(() => {
    text.textContent = `Finding evidence and reading it… ${((performance.now() - started) / 1000).toFixed(1)} s`;
  }, 100);
  return () => {
    clearInterval(timer); // stopping twice is harmless
    if ($("ask-progress").hidden) return;
    $("ask-progress").hidden = true;
    $("ask-button").disabled = false;
  };
}

async function ask(question) {
  const stop = startProgress();
  try {
    await guarded(async () => {
      const { body } = await call("POST", "/v1/query", { json: { question } });
      stop();
      await renderAnswer(body);
    });
  } finally {
    stop();
  }
}

async function renderAnswer(body) {
  // busy until the drawing is there too: the answer's text shows at once, its graph a layout call later
  $("answer").setAttribute("aria-busy", "true");
  $("answer").hidden = false;
  const text = $("answer-text");
  if (body.abstained) {
    text.textContent = "I don't know";
    text.className = "answer-text abstained";
    $("answer-confidence").textContent =
      `The evidence found does not answer this question (confidence ${body.confidence.toFixed(2)}).`;
  } else {
    text.textContent = body.answer;
    text.className = "answer-text";
    $("answer-confidence").textContent = `Confidence ${body.confidence.toFixed(2)}`;
  }
  const citations = $("citations");
  citations.replaceChildren();
  for (const citation of body.citations) {
    const item = make("li");
    item.append(
      button(citation.document_title || citation.document_id, () =>
        openDocument(citation.document_id, citation.start, citation.end),
      ),
    );
    item.append(make("blockquote", citation.text, "snippet"));
    citations.append(item);
  }
  if (body.citations.length === 0) citations.append(make("li", "No citations.", "muted"));
  const paths = $("path-list");
  paths.replaceChildren();
  for (const path of body.paths) paths.append(make("li", path.text));
  if (body.paths.length === 0) paths.append(make("li", "No graph path was used.", "muted"));
  await drawAnswerGraph(body.paths);
  $("plan-text").textContent = JSON.stringify({ plan: body.plan, timings_ms: body.timings_ms }, null, 2);
  $("answer").setAttribute("aria-busy", "false");
  $("answer-heading").focus();
}

async function drawAnswerGraph(paths) {
  const model = new GraphModel();
  for (const path of paths) {
    for (const node of path.nodes) model.addNode(node);
    for (const edge of path.edges) model.addEdge(edge);
  }
  const container = $("answer-graph");
  if (model.nodes.size === 0) {
    container.replaceChildren();
    return;
  }
  await layOut(model);
  drawGraph(container, model, {
    title: "The answer's graph paths; choose an entity to explore its neighbours",
    onActivate: (id) => {
      showPanel("panel-explore");
      exploreEntity(model.nodes.get(id));
    },
  });
}

export function setUpAsk() {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
  });
}
