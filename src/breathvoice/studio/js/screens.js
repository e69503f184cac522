// The studio's screens, in menu order. A screen module exports
// `mount(container, context)` and may return a function that unmounts it.
// A new screen is one more line here.

export const SCREENS = [
  {id: "groups", title: "Voice groups", load: () => import("./screens/groups.js")},
  {id: "script", title: "Script", load: () => import("./screens/script.js")},
  {id: "playground", title: "Playground", load: () => import("./screens/playground.js")},
  {id: "keys", title: "Keys", adminOnly: true, load: () => import("./screens/keys.js")},
];

export const DEFAULT_SCREEN = "groups";
