// Telling the analyst what happened: the notice line, the API key form on a refused key, and the store summary.

import { ApiError, call, explain } from "./api.js";
import { $ } from "./dom.js";

export function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
}

export function clearNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
}

export function askForKey() {
  $("key-panel").hidden = false;
  $("key-button").hidden = false;
  $("key-input").focus();
}

/** Report a failed call; a refused key also opens the key form. */
export function report(error) {
  showNotice(explain(error));
  if (error instanceof ApiError && error.status === 401) askForKey();
}

/** Run ``work``, reporting a failure instead of throwing it; resolves to its result or undefined. */
export async function guarded(work) {
  try {
    clearNotice();
    return await work();
  } catch (error) {
    report(error);
    return undefined;
  }
}

/** The tenant's counts in the header; true when the server answered. */
export async function refreshSummary() {
  return guarded(async () => {
    const { body } = await call("GET", "/v1/health");
    $("store-summary").textContent =
      `Tenant ${body.tenant}: ${body.documents} documents, ${body.entities} entities, ${body.relations} relations.`;
    return true;
  });
}
