// Explore: entity search, neighbourhoods drawn and grown on click, paths between two entities, and on Neo4j a
// link that opens the same subgraph in the Neo4j Browser.

import { call } from "./api.js";
import { $, button, make } from "./dom.js";
import { guarded } from "./feedback.js";
import { GraphModel, drawGraph } from "./graph.js";

const RELATIONS_LISTED = 300;
const explored = new GraphModel();
let browserBase = null;

/** Ask the server to lay out ``model`` (nodes already placed stay put) and keep the positions on it. */
export async function layOut(model) {
  if (model.nodes.size === 0) return;
  const { body } = await call("POST", "/v1/layout", { json: model.layoutRequest() });
  model.positions = body.positions;
}

function entityName(model, id) {
  const node = model.nodes.get(id);
  return node ? node.name : id;
}

/** Start exploring from ``entity`` (an entity object as the API gives it). */
export function exploreEntity(entity) {
  explored.addNode(entity);
  return expand(entity.id);
}

function exploreStatus(text) {
  $("explore-status").textContent = text;
}

function showBrowserLink(cypher) {
  const holder = $("neo4j-link");
  const base = browserBase;
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
  const model = explored;
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

export async function expand(id) {
  await guarded(async () => {
    const hops = $("expand-hops").value;
    const limit = $("expand-limit").value || "100";
    exploreStatus("Loading neighbours…");
    const { body } = await call("GET", `/v1/entities/${encodeURIComponent(id)}/neighbors`, { query: { hops, limit } });
    const model = explored;
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

/** Where the "open in the Neo4j Browser" links go (the server's /page/config says; null: no link). */
export function useNeo4jBrowser(url) {
  browserBase = url;
}

export function setUpExplore() {
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
            explored.addNode(entity);
            expand(entity.id);
          }),
        );
        list.append(item);
      }
      exploreStatus(found.length ? `${found.length} matching entities.` : "No entity matches that name.");
    });
  });
  $("graph-clear").addEventListener("click", () => {
    explored.clear();
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
      const model = explored;
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
}
