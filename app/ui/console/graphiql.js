/* GET /graphql in a browser: GraphiQL from its CDN when the network allows, otherwise Accord's
 * own console (console.js, served by the gateway).
 *
 * The CDN scripts are added one by one from here rather than as <script> tags in the page, so
 * a failure (onerror) or a CDN that never answers (the timeout) is noticed and the console is
 * shown instead of a page stuck on "Loading". Whatever arrives after the switch is ignored.
 * Opening /graphql?console skips the CDN altogether.
 */
(function () {
  "use strict";

  var CDN = "https://unpkg.com/";
  var SCRIPTS = [
    "react@18/umd/react.production.min.js",
    "react-dom@18/umd/react-dom.production.min.js",
    "graphiql@3/graphiql.min.js",
  ];
  var STYLESHEET = "graphiql@3/graphiql.min.css";
  var TIMEOUT_MS = 8000;
  // After rendering, GraphiQL must have drawn its editor within this time; otherwise (a script
  // the page's policy refused, an error inside React) the console replaces it.
  var RENDER_CHECK_MS = 3000;

  var root = document.getElementById("editor");
  var endpoint = window.location.pathname;
  var settled = false;
  var timer = null;
  var reactRoot = null;
  var refused = "";

  document.addEventListener("securitypolicyviolation", function (event) {
    refused = refused || event.violatedDirective + " " + (event.blockedURI || "");
  });

  function useConsole(why) {
    if (settled) return;
    settled = true;
    window.clearTimeout(timer);
    root.removeAttribute("role"); // the loading message was a status; the console is not
    document.documentElement.classList.remove("ac-graphiql");
    window.AccordConsole.mount(root, {
      endpoint: endpoint,
      notice: why
        ? "GraphiQL could not be loaded from " + CDN + " (" + why + "), so this is Accord's " +
          "built-in console. It talks to the same endpoint."
        : "",
    });
    root.setAttribute("data-editor", "console");
  }

  function useGraphiQL() {
    if (settled) return;
    if (!window.React || !window.ReactDOM || !window.GraphiQL) {
      useConsole("its scripts did not define GraphiQL");
      return;
    }
    try {
      var fetcher = window.GraphiQL.createFetcher({ url: endpoint });
      root.textContent = "";
      root.removeAttribute("role");
      reactRoot = window.ReactDOM.createRoot(root);
      reactRoot.render(window.React.createElement(window.GraphiQL, { fetcher: fetcher }));
    } catch (error) {
      useConsole("it failed to start: " + error.message);
      return;
    }
    settled = true;
    window.clearTimeout(timer);
    root.setAttribute("data-editor", "graphiql");
    window.setTimeout(checkRendered, RENDER_CHECK_MS);
  }

  function checkRendered() {
    if (root.querySelector(".graphiql-container")) return;
    try {
      if (reactRoot) reactRoot.unmount();
    } catch (error) {
      /* replaced below either way */
    }
    root.textContent = "";
    settled = false;
    useConsole(refused ? "the page's security policy refused " + refused : "it did not start");
  }

  function load(index) {
    if (settled) return;
    if (index === SCRIPTS.length) {
      useGraphiQL();
      return;
    }
    var script = document.createElement("script");
    script.src = CDN + SCRIPTS[index];
    script.onload = function () {
      load(index + 1);
    };
    script.onerror = function () {
      useConsole("the network refused " + SCRIPTS[index].split("/")[0]);
    };
    document.head.appendChild(script);
  }

  if (/(^|[?&])console(=|&|$)/.test(window.location.search.slice(1))) {
    useConsole("");
    return;
  }
  var link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = CDN + STYLESHEET;
  document.head.appendChild(link);
  timer = window.setTimeout(function () {
    useConsole("no answer within " + TIMEOUT_MS / 1000 + " s");
  }, TIMEOUT_MS);
  load(0);
})();
