// Drawing a subgraph as SVG at the positions the server's /v1/layout computed. Every value from the store goes
// in through textContent or setAttribute, never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 1000;
const HEIGHT = 640;
const MARGIN = 48;
const RADIUS = 9;
// Edge labels are written on the drawing up to this many edges; above it they are in each edge's tooltip and in
// the relation list beside the drawing.
const EDGE_LABELS_UP_TO = 80;
const TYPES = new Set([
  "person", "organization", "location", "facility", "group", "event", "product", "work", "law", "language",
]);

/** The entities and relations on one drawing, and where each entity is drawn (unit square). */
export class GraphModel {
  constructor() {
    this.nodes = new Map();
    this.edges = new Map();
    this.positions = {};
  }

  addNode(entity) {
    if (!this.nodes.has(entity.id)) this.nodes.set(entity.id, { id: entity.id, name: entity.name, type: entity.type });
  }

  addEdge(edge) {
    // keyed by its ends and type: path edges come without the relation's id that neighbourhoods give
    const key = `${edge.source}|${edge.type}|${edge.target}`;
    if (!this.edges.has(key)) this.edges.set(key, { ...edge, key });
  }

  clear() {
    this.nodes.clear();
    this.edges.clear();
    this.positions = {};
  }

  /** The body of a /v1/layout request: every node, the edges, and the nodes already placed (they stay put). */
  layoutRequest() {
    const nodes = [...this.nodes.keys()];
    const fixed = {};
    for (const id of nodes) if (this.positions[id]) fixed[id] = this.positions[id];
    const edges = [...this.edges.values()].map((e) => ({ source: e.source, target: e.target }));
    return { nodes, edges, fixed };
  }
}

function svg(name, attributes = {}) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function typeClass(type) {
  const name = String(type || "").toLowerCase();
  return `type-${TYPES.has(name) ? name : "other"}`;
}

function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function point(position) {
  const [x, y] = position || [0.5, 0.5];
  return [MARGIN + x * (WIDTH - 2 * MARGIN), MARGIN + y * (HEIGHT - 2 * MARGIN)];
}

/**
 * Draw ``model`` into ``container`` (replacing what was there). ``onActivate(id)`` runs when a node is clicked or
 * chosen with Enter or Space; ``highlighted`` nodes are drawn emphasised.
 */
export function drawGraph(container, model, { title, onActivate, highlighted = new Set() }) {
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "group", class: "graph-svg" });
  root.setAttribute("aria-label", title);
  const markerId = `${container.id}-arrow`;
  const defs = svg("defs");
  const marker = svg("marker", {
    id: markerId, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
  defs.append(marker);
  root.append(defs);

  const edgeLayer = svg("g", { class: "edges" });
  const labelLayer = svg("g", { class: "edge-labels" });
  const writeLabels = model.edges.size <= EDGE_LABELS_UP_TO;
  for (const edge of model.edges.values()) {
    const [x1, y1] = point(model.positions[edge.source]);
    const [x2, y2] = point(model.positions[edge.target]);
    const length = Math.hypot(x2 - x1, y2 - y1) || 1;
    const dx = ((x2 - x1) / length) * (RADIUS + 2);
    const dy = ((y2 - y1) / length) * (RADIUS + 2);
    const line = svg("line", {
      x1: x1 + dx, y1: y1 + dy, x2: x2 - dx, y2: y2 - dy, class: "edge", "marker-end": `url(#${markerId})`,
    });
    const tip = svg("title");
    tip.textContent = edge.label;
    line.append(tip);
    edgeLayer.append(line);
    if (writeLabels) {
      const label = svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, class: "edge-label" });
      label.textContent = shorten(edge.label, 32);
      labelLayer.append(label);
    }
  }

  const nodeLayer = svg("g", { class: "nodes" });
  for (const node of model.nodes.values()) {
    const [x, y] = point(model.positions[node.id]);
    const classes = ["node", typeClass(node.type)];
    if (highlighted.has(node.id)) classes.push("highlighted");
    const group = svg("g", { class: classes.join(" "), tabindex: 0, role: "button", transform: `translate(${x} ${y})` });
    group.setAttribute("aria-label", `${node.name} (${node.type}): show its neighbours`);
    group.dataset.entityId = node.id;
    group.append(svg("circle", { r: RADIUS }));
    const caption = svg("text", { y: RADIUS + 14, class: "node-label" });
    caption.textContent = shorten(node.name, 28);
    group.append(caption);
    if (onActivate) {
      group.addEventListener("click", () => onActivate(node.id));
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          onActivate(node.id);
        }
      });
    }
    nodeLayer.append(group);
  }
  root.append(edgeLayer, labelLayer, nodeLayer);
  container.replaceChildren(root);
}
