// The analyst page: ask (answer, citations, graph paths), explore (search, neighbours, paths, documents) and add
// documents (uploads as ingest jobs with progress). Text from the server is only ever set as textContent.

import { ApiError, call, explain, storeKey, storedKey } from "./api.js";
import { GraphModel, drawGraph } from "./graph.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
const RELATIONS_LISTED = 300;

const state = { config: null, explore: new GraphModel(), answer: new GraphModel() };

function make(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function button(text, onClick, className = "link") {
  const element = make("button", text, className);
  element.type = "button";
  element.addEventListener("click", onClick);
  return element;
}

// ---- notices and the API key ------------------------------------------------------------------------------------

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
}

function clearNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
}

function askForKey() {
  $("key-panel").hidden = false;
  $("key-button").hidden = false;
  $("key-input").focus();
}

/** Report a failed call; a refused key also opens the key form. */
function report(error) {
  showNotice(explain(error));
  if (error instanceof ApiError && error.status === 401) askForKey();
}

async function guarded(work) {
  try {
    clearNotice();
    return await work();
  } catch (error) {
    report(error);
    return undefined;
  }
}

function setUpKey() {
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    storeKey($("key-input").value.trim());
    $("key-input").value = "";
    if (await refreshSummary()) {
      $("key-panel").hidden = true;
      showPanel("panel-ask");
    }
  });
  $("key-forget").addEventListener("click", () => {
    storeKey("");
    $("store-summary").textContent = "No API key in use.";
  });
  $("key-button").addEventListener("click", askForKey);
}

async function refreshSummary() {
  return guarded(async () => {
    const { body } = await call("GET", "/v1/health");
    $("store-summary").textContent =
      `Tenant ${body.tenant}: ${body.documents} documents, ${body.entities} entities, ${body.relations} relations.`;
    return true;
  });
}

// ---- sections ---------------------------------------------------------------------------------------------------

function showPanel(id) {
  for (const tab of document.querySelectorAll(".tab")) {
    const chosen = tab.dataset.panel === id;
    $(tab.dataset.panel).hidden = !chosen;
    if (chosen) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

function setUpTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showPanel(tab.dataset.panel));
  }
}

// ---- drawing ----------------------------------------------------------------------------------------------------

async function layOut(model) {
  if (model.nodes.size === 0) return;
  const { body } = await call("POST", "/v1/layout", { json: model.layoutRequest() });
  model.positions = body.positions;
}

function entityName(model, id) {
  const node = model.nodes.get(id);
  return node ? node.name : id;
}

// ---- ask --------------------------------------------------------------------------------------------------------

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
  $("answer-heading").focus();
}

async function drawAnswerGraph(paths) {
  const model = new GraphModel();
  for (const path of paths) {
    for (const node of path.nodes) model.addNode(node);
    for (const edge of path.edges) model.addEdge(edge);
  }
  state.answer = model;
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
      state.explore.addNode(model.nodes.get(id));
      expand(id);
    },
  });
}

function setUpAsk() {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
  });
}

// ---- explore ----------------------------------------------------------------------------------------------------

function exploreStatus(text) {
  $("explore-status").textContent = text;
}

function showBrowserLink(cypher) {
  const holder = $("neo4j-link");
  const base = state.config && state.config.neo4j_browser;
  if (!cypher || !base) {
    holder.hidden = true;
    return;
  }
  const url = new URL(base);
  url.searchParams.set("cmd", "edit");
  url.searchParams.set("arg", cypher);
  const link = make("a", "Open this subgraph in the Neo4j Browser");
  link.href = url.toString();
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  holder.replaceChildren(link, make("code", cypher, "cypher"));
  holder.hidden = false;
}

async function redrawExplore(highlighted = new Set()) {
  const model = state.explore;
  await layOut(model);
  drawGraph($("explore-graph"), model, {
    title: "Explored graph; choose an entity to show its neighbours",
    onActivate: (id) => expand(id),
    highlighted,
  });
  const list = $("relation-list");
  list.replaceChildren();
  let shown = 0;
  for (const edge of model.edges.values()) {
    if (shown++ >= RELATIONS_LISTED) break;
    const confidence = typeof edge.confidence === "number" ? ` (confidence ${edge.confidence.toFixed(2)})` : "";
    list.append(
      make("li", `${entityName(model, edge.source)} — ${edge.label} → ${entityName(model, edge.target)}${confidence}`),
    );
  }
  if (model.edges.size > RELATIONS_LISTED) {
    list.append(make("li", `and ${model.edges.size - RELATIONS_LISTED} more`, "muted"));
  }
}

async function expand(id) {
  await guarded(async () => {
    const hops = $("expand-hops").value;
    const limit = $("expand-limit").value || "100";
    exploreStatus("Loading neighbours…");
    const { body } = await call("GET", `/v1/entities/${encodeURIComponent(id)}/neighbors`, { query: { hops, limit } });
    const model = state.explore;
    if (model.nodes.size + body.entities.length > 1500) model.clear();
    model.addNode(body.entity);
    for (const entity of body.entities) model.addNode(entity);
    for (const relation of body.relations) model.addEdge(relation);
    await redrawExplore(new Set([id]));
    exploreStatus(
      `${body.entity.name}: ${body.relations.length} relations within ${hops} hop(s). ` +
        `Drawing ${model.nodes.size} entities and ${model.edges.size} relations.`,
    );
    showBrowserLink(body.cypher);
  });
}

async function searchEntities(query) {
  const { body } = await call("GET", "/v1/entities", { query: { q: query, limit: 20 } });
  return body;
}

function setUpExplore() {
  $("entity-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const found = await searchEntities($("entity-query").value.trim());
      const list = $("entity-results");
      list.replaceChildren();
      for (const entity of found) {
        const item = make("li");
        item.append(
          button(`${entity.name} (${entity.type})`, () => {
            state.explore.addNode(entity);
            expand(entity.id);
          }),
        );
        list.append(item);
      }
      exploreStatus(found.length ? `${found.length} matching entities.` : "No entity matches that name.");
    });
  });
  $("graph-clear").addEventListener("click", () => {
    state.explore.clear();
    $("explore-graph").replaceChildren();
    $("relation-list").replaceChildren();
    $("neo4j-link").hidden = true;
    exploreStatus("The drawing is empty.");
  });
  $("paths-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const [sources, targets] = await Promise.all([
        searchEntities($("path-source").value.trim()),
        searchEntities($("path-target").value.trim()),
      ]);
      if (!sources.length || !targets.length) {
        exploreStatus(`No entity matches "${!sources.length ? $("path-source").value : $("path-target").value}".`);
        return;
      }
      const [source, target] = [sources[0], targets[0]];
      const maxHops = $("path-hops").value;
      const { body } = await call("GET", "/v1/paths", {
        query: { source: source.id, target: target.id, max_hops: maxHops },
      });
      const model = state.explore;
      model.clear();
      model.addNode(source);
      model.addNode(target);
      for (const path of body.paths) {
        for (const node of path.nodes) model.addNode(node);
        for (const edge of path.edges) model.addEdge(edge);
      }
      await redrawExplore(new Set([source.id, target.id]));
      exploreStatus(
        body.paths.length
          ? `${body.paths.length} path(s) from ${source.name} to ${target.name}: ${body.paths.map((p) => p.text).join("; ")}`
          : `No path from ${source.name} to ${target.name} within ${maxHops} hops.`,
      );
      showBrowserLink(body.cypher);
    });
  });
  $("document-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openDocument($("document-id").value.trim());
  });
}

// ---- documents --------------------------------------------------------------------------------------------------

async function openDocument(id, start = -1, end = -1) {
  await guarded(async () => {
    const { body } = await call("GET", `/v1/documents/${encodeURIComponent(id)}`);
    $("document-title").textContent = body.title || body.id;
    $("document-meta").textContent = `${body.source} · ${body.length} characters · id ${body.id}`;
    const holder = $("document-text");
    const text = body.text || "";
    let mark = null;
    if (start >= 0 && end > start && end <= text.length) {
      mark = make("mark", text.slice(start, end));
      holder.replaceChildren(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
    } else {
      holder.replaceChildren(document.createTextNode(text));
    }
    const dialog = $("document-view");
    if (!dialog.open) dialog.showModal();
    if (mark) mark.scrollIntoView({ block: "center" });
  });
}

function setUpDocumentView() {
  $("document-close").addEventListener("click", () => $("document-view").close());
}

// ---- ingest -----------------------------------------------------------------------------------------------------

function renderReport(holder, reportBody) {
  const counts = make(
    "p",
    `Added ${reportBody.documents_added}, replaced ${reportBody.documents_replaced}, unchanged ` +
      `${reportBody.documents_unchanged}; ${reportBody.chunks} chunks, ${reportBody.triples} triples.`,
  );
  holder.append(counts);
  if (reportBody.problems.length) {
    holder.append(make("p", `${reportBody.problems.length} problem(s), skipped:`, "problem-heading"));
    const problems = make("ul", null, "problems");
    for (const problem of reportBody.problems) {
      const where = problem.line ? `${problem.source}, line ${problem.line}` : problem.source;
      problems.append(make("li", `${where}: ${problem.message} (${problem.code})`));
    }
    holder.append(problems);
  }
  const ids = reportBody.document_ids.slice(0, 10);
  if (ids.length) {
    const opens = make("p", "Open: ");
    for (const id of ids) opens.append(button(id, () => openDocument(id)), " ");
    holder.append(opens);
  }
}

function jobItem(name) {
  const item = make("li", null, "job");
  const title = make("strong", name);
  const status = make("span", "sending…", "job-status");
  const bar = make("progress");
  bar.setAttribute("aria-label", `Progress of ${name}`);
  const details = make("div", null, "job-report");
  item.append(title, " ", status, bar, details);
  $("jobs").prepend(item);
  return { item, status, bar, details };
}

async function followJob(job, view) {
  for (;;) {
    view.status.textContent = `${job.status}: ${job.documents_done} of ${job.documents_total || "?"} documents`;
    if (job.documents_total) {
      view.bar.max = job.documents_total;
      view.bar.value = job.documents_done;
    }
    if (job.status === "succeeded" || job.status === "failed") break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = (await call("GET", `/v1/jobs/${encodeURIComponent(job.id)}`)).body;
  }
  view.bar.max = 1;
  view.bar.value = 1;
  view.item.dataset.status = job.status;
  view.status.textContent = job.status === "succeeded" ? "finished" : `failed: ${job.error || "unknown error"}`;
  if (job.report) renderReport(view.details, job.report);
  refreshSummary();
}

async function upload(file) {
  const view = jobItem(file.name);
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const { status, body } = await call("POST", "/v1/documents", { form, query: { mode: "async" } });
    if (status === 202) await followJob(body, view);
    else {
      view.item.dataset.status = "succeeded";
      view.status.textContent = "finished";
      renderReport(view.details, body);
    }
  } catch (error) {
    view.item.dataset.status = "failed";
    view.status.textContent = `failed: ${explain(error)}`;
    if (error instanceof ApiError && error.status === 401) askForKey();
  }
}

function setUpIngest() {
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearNotice();
    const files = [...$("upload-files").files];
    $("upload-files").value = "";
    await Promise.all(files.map(upload));
  });
  $("paste-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = $("paste-title").value.trim();
    const view = jobItem(title || "pasted text");
    try {
      const body = { text: $("paste-text").value };
      if (title) body.title = title;
      const { body: result } = await call("POST", "/v1/documents", { json: body });
      view.item.dataset.status = "succeeded";
      view.status.textContent = "finished";
      view.bar.max = 1;
      view.bar.value = 1;
      renderReport(view.details, result);
      $("paste-text").value = "";
      refreshSummary();
    } catch (error) {
      view.item.dataset.status = "failed";
      view.status.textContent = `failed: ${explain(error)}`;
      if (error instanceof ApiError && error.status === 401) askForKey();
    }
  });
}

// ---- start ------------------------------------------------------------------------------------------------------

async function start() {
  setUpTabs();
  setUpKey();
  setUpAsk();
  setUpExplore();
  setUpDocumentView();
  setUpIngest();
  try {
    state.config = (await call("GET", "/page/config")).body;
    $("question").maxLength = state.config.max_question_chars;
    const hops = $("expand-hops");
    const pathHops = $("path-hops");
    for (let n = 3; n <= state.config.max_hops_limit; n++) hops.append(make("option", String(n)));
    for (let n = 4; n <= state.config.max_hops_limit; n++) pathHops.append(make("option", String(n)));
    if (state.config.keys_required) $("key-button").hidden = false;
    if (state.config.keys_required && !storedKey()) {
      $("store-summary").textContent = "This server needs an API key.";
      askForKey();
    } else {
      await refreshSummary();
    }
  } catch (error) {
    report(error);
  }
  document.documentElement.dataset.ready = "true";
}

start();
