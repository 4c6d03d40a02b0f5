// The document viewer: a modal dialog with the document's text and, for a citation, the cited span highlighted.

import { call } from "./api.js";
import { $, make } from "./dom.js";
import { guarded } from "./feedback.js";

export async function openDocument(id, start = -1, end = -1) {
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

export function setUpDocumentView() {
  $("document-close").addEventListener("click", () => $("document-view").close());
  $("document-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openDocument($("document-id").value.trim());
  });
}
