// Boot: learn whether a key is needed, sign in if so, then show the screen in the URL's hash.
import {getJSON, listGroups, session} from "./api.js";
import {clear, h} from "./dom.js";
import {DEFAULT_SCREEN, SCREENS} from "./screens.js";
import {describe, errorBox} from "./ui.js";

const main = document.getElementById("main");
let unmount = null;

async function checkAccess() {
  await listGroups();  // throws 401 for a bad key
  try {
    await getJSON("/breathvoice/keys");
    session.isAdmin = true;
  } catch {
    session.isAdmin = false;
  }
}

function renderChrome() {
  const nav = clear(document.getElementById("nav"));
  const who = clear(document.getElementById("who"));
  const signedIn = !session.keysRequired || session.key;
  if (signedIn) {
    for (const screen of SCREENS) {
      if (screen.adminOnly && !session.isAdmin) continue;
      nav.append(h("a", {href: `#/${screen.id}`, "data-screen": screen.id}, screen.title));
    }
  }
  if (session.keysRequired && session.key) {
    who.append(h("button", {type: "button", class: "link", onclick: signOut}, "Sign out"));
  } else if (!session.keysRequired) {
    who.append(h("span", {class: "muted"}, "Local use, no key needed"));
  }
}

function signOut() {
  session.key = "";
  session.isAdmin = false;
  location.hash = "#/";
  start();
}

async function show() {
  if (unmount) { unmount(); unmount = null; }
  const wanted = location.hash.replace(/^#\//, "") || DEFAULT_SCREEN;
  const screen = SCREENS.find((s) => s.id === wanted && (!s.adminOnly || session.isAdmin))
    || SCREENS.find((s) => s.id === DEFAULT_SCREEN);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.screen === screen.id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${screen.title} · BreathVOICE Studio`;
  const container = clear(main);
  container.append(h("h2", {}, screen.title));
  try {
    const module = await screen.load();
    unmount = (await module.mount(container, {refreshChrome: renderChrome})) || null;
  } catch (error) {
    container.append(errorBox(error));
  }
}

async function signIn(problem) {
  clear(main);
  renderChrome();
  const module = await import("./screens/signin.js");
  module.mount(main, {problem, onSignedIn: start});
}

async function start() {
  try {
    const config = await getJSON("/studio/config.json");
    session.keysRequired = Boolean(config.keys_required);
    if (session.keysRequired && !session.key) return signIn();
    await checkAccess();
  } catch (error) {
    if (error.status === 401) {
      session.key = "";
      return signIn(describe(error));
    }
    renderChrome();
    clear(main).append(errorBox(error));
    return undefined;
  }
  renderChrome();
  return show();
}

window.addEventListener("hashchange", () => {
  if (!session.keysRequired || session.key) show();
});
start();
