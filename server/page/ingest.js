// Add documents: uploads become ingest jobs followed to the end with their progress and report; pasted text is
// ingested at once.

import { ApiError, call, explain } from "./api.js";
import { openDocument } from "./documents.js";
import { $, button, make } from "./dom.js";
import { askForKey, clearNotice, refreshSummary } from "./feedback.js";

const POLL_MS = 400;

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

export function setUpIngest() {
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
