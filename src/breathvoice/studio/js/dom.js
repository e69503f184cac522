// Building the page: elements from data with textContent only, never HTML strings.

/** h("button", {class: "x", onclick: f}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name in el && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function seconds(value) {
  return `${Number(value).toFixed(1)} s`;
}

let counter = 0;
/** A unique id for label/for pairs. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form field: returns [wrapper, control]. */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const wrapper = h("div", {class: "field"}, h("label", {for: id}, label), control);
  if (hint) wrapper.append(h("small", {class: "muted"}, hint));
  return [wrapper, control];
}
