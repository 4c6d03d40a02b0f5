// The analyst page: ask (answer, citations, graph paths), explore (search, neighbours, paths, documents) and add
// documents (uploads as ingest jobs with progress). This module starts it: the tabs, the API key form, and the
// server's start-up facts. Text from the server is only ever set as textContent.

import { call, storeKey, storedKey } from "./api.js";
import { setUpAsk } from "./ask.js";
import { setUpDocumentView } from "./documents.js";
import { $, make, showPanel } from "./dom.js";
import { setUpExplore, useNeo4jBrowser } from "./explore.js";
import { askForKey, refreshSummary, report } from "./feedback.js";
import { setUpIngest } from "./ingest.js";

function setUpTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showPanel(tab.dataset.panel));
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

/** The limits the server accepts, offered in the forms. */
function applyLimits(config) {
  $("question").maxLength = config.max_question_chars;
  for (let n = 3; n <= config.max_hops_limit; n++) $("expand-hops").append(make("option", String(n)));
  for (let n = 4; n <= config.max_hops_limit; n++) $("path-hops").append(make("option", String(n)));
}

async function start() {
  setUpTabs();
  setUpKey();
  setUpAsk();
  setUpExplore();
  setUpDocumentView();
  setUpIngest();
  try {
    const config = (await call("GET", "/page/config")).body;
    useNeo4jBrowser(config.neo4j_browser);
    applyLimits(config);
    if (config.keys_required) $("key-button").hidden = false;
    if (config.keys_required && !storedKey()) {
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
