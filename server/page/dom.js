// Small DOM helpers shared by the page's modules. Text always goes in through textContent.

export const $ = (id) => document.getElementById(id);

export function make(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = text;
  if (className) element.className = className;
  return element;
}

export function button(text, onClick, className = "link") {
  const element = make("button", text, className);
  element.type = "button";
  element.addEventListener("click", onClick);
  return element;
}

/** Show one section (Ask, Explore, Add documents) and mark its tab as the current one. */
export function showPanel(id) {
  for (const tab of document.querySelectorAll(".tab")) {
    const chosen = tab.dataset.panel === id;
    $(tab.dataset.panel).hidden = !chosen;
    if (chosen) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}
