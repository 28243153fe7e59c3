/* Accord query console: a small GraphQL client that needs nothing but the gateway.
 *
 * It is what GET /graphql shows when GraphiQL cannot be fetched from its CDN (a closed
 * network), and it stands alone at /ui/console/. No third-party code and no build step, so it
 * works wherever the gateway does. Request headers (a bearer token, Accord-Purpose) are kept in
 * sessionStorage only: they last as long as the tab, never on disk across sessions.
 */
(function () {
  "use strict";

  var HEADERS_KEY = "accord.console.headers";
  var INDENT = "  ";
  var EXAMPLE_QUERY = "query Person($id: ID!) {\n  person(id: $id) {\n    givenName\n  }\n}\n";
  var EXAMPLE_VARIABLES = '{\n  "id": "P000001"\n}\n';
  var EXAMPLE_HEADERS = '{\n  "Authorization": "Bearer <token>",\n  "Accord-Purpose": "TREAT"\n}\n';

  var TEMPLATE =
    '<div class="ac-console">' +
    '<header class="ac-bar"><h1>Accord query console</h1>' +
    '<p class="ac-endpoint">Sends to <code data-ac="endpoint"></code></p></header>' +
    '<p class="ac-notice" data-ac="notice" hidden></p>' +
    '<form class="ac-grid" data-ac="form" novalidate>' +
    '<div class="ac-inputs">' +
    '<label for="ac-query">Query</label>' +
    '<textarea id="ac-query" class="ac-code" rows="14" spellcheck="false" autocapitalize="off"' +
    ' autocomplete="off" aria-describedby="ac-keys"></textarea>' +
    '<p id="ac-keys" class="ac-hint">Ctrl+Enter (Cmd+Enter on a Mac) runs the query. Tab indents;' +
    " press Esc, then Tab, to move on to the next field.</p>" +
    '<label for="ac-variables">Variables (JSON)</label>' +
    '<textarea id="ac-variables" class="ac-code" rows="5" spellcheck="false"' +
    ' autocapitalize="off" autocomplete="off" aria-describedby="ac-variables-error"></textarea>' +
    '<p id="ac-variables-error" class="ac-field-error" aria-live="polite"></p>' +
    '<label for="ac-headers">Request headers (JSON; kept for this tab only)</label>' +
    '<textarea id="ac-headers" class="ac-code" rows="5" spellcheck="false"' +
    ' autocapitalize="off" autocomplete="off" aria-describedby="ac-headers-error"></textarea>' +
    '<p id="ac-headers-error" class="ac-field-error" aria-live="polite"></p>' +
    '<p class="ac-actions"><button type="submit" id="ac-run">Run</button>' +
    '<button type="button" id="ac-forget" class="ac-secondary">Forget headers</button></p>' +
    "</div>" +
    '<section class="ac-output" aria-labelledby="ac-response-title">' +
    '<h2 id="ac-response-title">Response</h2>' +
    '<p id="ac-status" class="ac-status" role="status" aria-live="polite">Not run yet.</p>' +
    '<div id="ac-errors" class="ac-errors" hidden>' +
    '<h3 id="ac-errors-title">Errors and withheld fields</h3>' +
    '<ul aria-labelledby="ac-errors-title"></ul></div>' +
    '<pre id="ac-response" class="ac-code ac-response" tabindex="0"' +
    ' aria-label="Response body"></pre>' +
    "</section></form></div>";

  function mount(root, options) {
    options = options || {};
    var endpoint = options.endpoint || "/graphql";
    root.innerHTML = TEMPLATE;
    var $ = function (id) {
      return root.querySelector("#" + id);
    };
    var query = $("ac-query");
    var variables = $("ac-variables");
    var headers = $("ac-headers");
    var run = $("ac-run");
    var status = $("ac-status");
    var response = $("ac-response");
    var errorsBox = $("ac-errors");
    var form = root.querySelector('[data-ac="form"]');

    root.querySelector('[data-ac="endpoint"]').textContent = endpoint;
    if (options.notice) {
      var notice = root.querySelector('[data-ac="notice"]');
      notice.textContent = options.notice;
      notice.hidden = false;
    }
    query.value = options.query || EXAMPLE_QUERY;
    variables.value = options.variables || EXAMPLE_VARIABLES;
    headers.value = remembered() || EXAMPLE_HEADERS;

    [query, variables, headers].forEach(function (area) {
      area.addEventListener("keydown", function (event) {
        editorKey(event, area, submit);
      });
    });
    headers.addEventListener("change", function () {
      remember(headers.value);
    });
    $("ac-forget").addEventListener("click", function () {
      forget();
      headers.value = EXAMPLE_HEADERS;
      say("Headers forgotten.");
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });

    function say(text, kind) {
      status.textContent = text;
      status.className = "ac-status" + (kind ? " ac-" + kind : "");
    }

    function fieldError(area, message) {
      var box = $(area.id + "-error");
      box.textContent = message || "";
      if (message) area.setAttribute("aria-invalid", "true");
      else area.removeAttribute("aria-invalid");
    }

    function submit() {
      if (run.disabled) return;
      var vars = parseObject(variables, "Variables");
      var sent = parseObject(headers, "Headers");
      if (vars === null || sent === null) {
        say("Nothing was sent: fix the JSON marked below.", "bad");
        return;
      }
      for (var name in sent) {
        if (typeof sent[name] !== "string") {
          fieldError(headers, 'Header "' + name + '" must be a string.');
          say("Nothing was sent: fix the JSON marked below.", "bad");
          headers.focus();
          return;
        }
      }
      remember(headers.value);
      var requestHeaders = {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
      };
      for (var key in sent) requestHeaders[key] = sent[key];
      run.disabled = true;
      say("Running\u2026");
      var started = Date.now();
      fetch(endpoint, {
        method: "POST",
        headers: requestHeaders,
        body: JSON.stringify({ query: query.value, variables: vars }),
        credentials: "same-origin",
        cache: "no-store",
      })
        .then(function (reply) {
          return reply.text().then(function (text) {
            show(reply.status, text, Date.now() - started);
          });
        })
        .catch(function (error) {
          response.textContent = "";
          showErrors([]);
          say("The gateway could not be reached: " + error.message, "bad");
        })
        .finally(function () {
          run.disabled = false;
        });
    }

    function parseObject(area, label) {
      var text = area.value.trim();
      if (!text) {
        fieldError(area, "");
        return {};
      }
      var value;
      try {
        value = JSON.parse(text);
      } catch (error) {
        fieldError(area, label + " are not valid JSON: " + error.message);
        area.focus();
        return null;
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        fieldError(area, label + ' must be a JSON object, like {"name": "value"}.');
        area.focus();
        return null;
      }
      fieldError(area, "");
      return value;
    }

    function show(code, text, elapsed) {
      var body = null;
      try {
        body = JSON.parse(text);
      } catch (error) {
        body = null;
      }
      response.textContent = body === null ? text : JSON.stringify(body, null, 2);
      var errors = body && Array.isArray(body.errors) ? body.errors : [];
      showErrors(errors);
      var summary = "HTTP " + code + " in " + elapsed + " ms";
      if (errors.length) {
        summary += ", " + errors.length + " error" + (errors.length > 1 ? "s" : "");
      }
      say(summary + ".", code >= 400 || (errors.length && !(body && body.data)) ? "bad" : "ok");
    }

    function showErrors(errors) {
      var list = errorsBox.querySelector("ul");
      list.textContent = "";
      errors.forEach(function (error) {
        list.appendChild(describe(error));
      });
      errorsBox.hidden = errors.length === 0;
    }
  }

  /* One error as a list item: where, what code, and the reason in plain words. */
  function describe(error) {
    var item = document.createElement("li");
    var ext = (error && error.extensions) || {};
    var where = Array.isArray(error.path) ? error.path.join(".") : "";
    var head = document.createElement("p");
    head.className = "ac-error-head";
    if (ext.code) {
      var code = document.createElement("code");
      code.className = "ac-code-badge ac-" + String(ext.code).toLowerCase().replace(/_/g, "-");
      code.textContent = ext.code;
      head.appendChild(code);
      head.appendChild(document.createTextNode(" "));
    }
    var strong = document.createElement("strong");
    var withheld = ext.code === "CONSENT_REQUIRED" || ext.code === "POLICY_DENIED";
    strong.textContent = where ? where + (withheld ? " withheld" : "") : "The request";
    head.appendChild(strong);
    item.appendChild(head);
    var facts = document.createElement("dl");
    [
      ["Reason", ext.reason],
      ["Message", error.message !== ext.reason ? error.message : ""],
      ["Rule", ext.rule],
      ["Data category", ext.category],
    ].forEach(function (row) {
      if (!row[1]) return;
      var term = document.createElement("dt");
      term.textContent = row[0];
      var value = document.createElement("dd");
      value.textContent = String(row[1]);
      facts.appendChild(term);
      facts.appendChild(value);
    });
    item.appendChild(facts);
    return item;
  }

  /* Tab indents (Shift+Tab outdents); Esc releases the next Tab to move focus; Ctrl/Cmd+Enter
   * runs. Keeping Tab for indentation without trapping keyboard users is what Esc is for. */
  function editorKey(event, area, submit) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    if (event.key === "Escape") {
      area.dataset.release = "1";
      return;
    }
    if (event.key !== "Tab" || event.altKey || event.ctrlKey || event.metaKey) {
      delete area.dataset.release;
      return;
    }
    if (area.dataset.release) {
      delete area.dataset.release;
      return; // the browser moves focus
    }
    event.preventDefault();
    var start = area.selectionStart;
    var end = area.selectionEnd;
    var text = area.value;
    if (start === end && !event.shiftKey) {
      area.setRangeText(INDENT, start, end, "end");
      return;
    }
    var lineStart = text.lastIndexOf("\n", start - 1) + 1;
    var block = text.slice(lineStart, end);
    var changed = event.shiftKey
      ? block.replace(/^ {1,2}/gm, "")
      : block.replace(/^/gm, INDENT);
    area.setRangeText(changed, lineStart, end, "preserve");
    area.setSelectionRange(lineStart, lineStart + changed.length);
  }

  function remembered() {
    try {
      return window.sessionStorage.getItem(HEADERS_KEY);
    } catch (error) {
      return null;
    }
  }

  function remember(text) {
    try {
      window.sessionStorage.setItem(HEADERS_KEY, text);
    } catch (error) {
      /* storage disabled: the headers simply are not remembered */
    }
  }

  function forget() {
    try {
      window.sessionStorage.removeItem(HEADERS_KEY);
    } catch (error) {
      /* nothing stored */
    }
  }

  window.AccordConsole = { mount: mount };

  // Standalone at /ui/console/: mount into the page's placeholder.
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("accord-console");
    if (root) mount(root, { endpoint: root.getAttribute("data-endpoint") || "/graphql" });
  });
})();
