// Accord web interface: plain JavaScript, no build step. Every value from the server is put
// into the page with textContent, never as HTML.
"use strict";

const API = "/accord/graphql";
const TOKEN_KEY = "accord.token";
const CATEGORY_CHOICES = [
  ["identity", "Who I am"],
  ["health", "Health records"],
  ["education", "School records"],
  ["human_services", "Benefits and social services"],
  ["court", "Court records"],
];

const $ = (id) => document.getElementById(id);
const state = { token: null, me: null, agencies: [], timelineCursor: null, auditCursor: null };

// -- helpers ---------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function day(iso) {
  return iso ? iso.slice(0, 10) : "";
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "";
}

async function gql(query, variables = {}) {
  const response = await fetch(API, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(`the server answered ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    throw new Error(body.errors.map((e) => e.message).join("; "));
  }
  return body.data.accord;
}

function agencyName(id) {
  const found = state.agencies.find((a) => a.id === id);
  return found ? found.name : id;
}

// -- sign in ---------------------------------------------------------------------------------

async function signIn(token) {
  state.token = token.trim().replace(/^Bearer\s+/i, "");
  try {
    const data = await gql("{ accord { me { agency user roles view subject } agencies { id name } } }");
    state.me = data.me;
    state.agencies = data.agencies;
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    say(`Sign-in failed: ${error.message}`, true);
    $("token").focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  const me = state.me;
  const label = { citizen: "citizen", auditor: "auditor", agency_admin: "agency administrator" };
  $("who").textContent = `Signed in as ${me.user} (${label[me.view] || "no audit role"}, ${agencyName(me.agency)})`;
  $("signin-section").hidden = true;
  $("signout").hidden = false;
  if (!me.view) {
    say("This token has no citizen, auditor or agency administrator role.", true);
    return;
  }
  $("verify-section").hidden = false;
  say("");
  if (me.view === "citizen") {
    $("citizen").hidden = false;
    await Promise.all([loadTimeline(true), loadRefused(), loadConsents()]);
    fillGrantForm();
  } else {
    $("auditor").hidden = false;
    fillAgencySelects();
    await Promise.all([loadChart(), loadDisclosures(true), loadDenials(), loadBreakGlass(), loadLedger()]);
  }
  $("main").focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  window.location.reload();
}

// -- citizen ---------------------------------------------------------------------------------

const TIMELINE = `query($after: String) { accord { disclosures(first: 20, after: $after) {
  nextCursor items { index time requester { agency { id name } } provider { id name }
  purpose { code display } categories { name description } fields
  basis { consents policies } } } } }`;

async function loadTimeline(fresh) {
  try {
    const data = await gql(TIMELINE, { after: fresh ? null : state.timelineCursor });
    const list = $("timeline");
    if (fresh) list.replaceChildren();
    for (const item of data.disclosures.items) list.append(timelineItem(item));
    if (fresh && !data.disclosures.items.length) {
      list.append(el("li", {}, "No agency has received information about you through Accord."));
    }
    state.timelineCursor = data.disclosures.nextCursor;
    $("timeline-more").hidden = !state.timelineCursor;
  } catch (error) {
    say(`Could not load who saw your data: ${error.message}`, true);
  }
}

function basisText(basis) {
  const parts = [];
  if (basis.consents.length) parts.push(`your consent (${basis.consents.join(", ")})`);
  if (basis.policies.length) parts.push(`the law (rule ${basis.policies.join(", ")})`);
  return parts.join(" and ") || "not recorded";
}

function timelineItem(item) {
  const data = item.categories.map((c) => c.description).join(", ");
  return el(
    "li",
    { "data-index": item.index },
    el("div", { class: "when" }, when(item.time)),
    el("div", { class: "what" }, `${item.requester.agency.name} received ${data} from ${item.provider.name}`),
    el("div", {}, `Purpose: ${item.purpose.display} (${item.purpose.code})`),
    el("div", {}, `Allowed by: ${basisText(item.basis)}`),
    el(
      "div",
      {},
      `Receipt ${item.index} `,
      el("button", { type: "button", class: "secondary", onclick: () => verifyFromList(item.index),
                     "aria-label": `Verify receipt ${item.index}` }, "Verify"),
    ),
  );
}

async function loadRefused() {
  try {
    const data = await gql(`{ accord { denials(first: 50) { items { index time
      requester { agency { name } } provider { name } categories { description } reason } } } }`);
    const list = $("refused");
    list.replaceChildren();
    for (const item of data.denials.items) {
      list.append(el("li", { "data-index": item.index },
        `${day(item.time)}: ${item.requester.agency.name} was refused `,
        `${item.categories.map((c) => c.description).join(", ")} from ${item.provider.name}. `,
        `Reason: ${item.reason}`));
    }
    if (!data.denials.items.length) list.append(el("li", {}, "No request about you was refused."));
  } catch (error) {
    say(`Could not load refused requests: ${error.message}`, true);
  }
}

const CONSENTS = `{ accord { consents { id status decision grantees { id name } categories
  purposes end recordedBy revokeReason } } }`;

async function loadConsents() {
  try {
    const data = await gql(CONSENTS);
    const body = $("consents").tBodies[0];
    body.replaceChildren();
    for (const consent of data.consents) {
      const names = consent.grantees.map((g) => g.name).join(", ");
      const action = consent.status === "active"
        ? el("button", { type: "button", class: "danger", "data-consent": consent.id,
                         "aria-label": `Revoke consent for ${names}`,
                         onclick: () => revoke(consent.id, names) }, "Revoke")
        : (consent.revokeReason || "");
      const what = consent.categories.length
        ? `${consent.decision === "deny" ? "only " : "all but "}${consent.categories.join(", ")}`
        : "all records";
      body.append(el("tr", { "data-consent": consent.id },
        el("td", {}, names), el("td", {}, what), el("td", { class: "consent-status" }, consent.status),
        el("td", {}, day(consent.end)), el("td", {}, action)));
    }
    if (!data.consents.length) {
      body.append(el("tr", {}, el("td", { colspan: "5" }, "You have not given any consent.")));
    }
  } catch (error) {
    say(`Could not load your consents: ${error.message}`, true);
  }
}

async function revoke(id, names) {
  if (!window.confirm(`Withdraw your consent for ${names}?`)) return;
  try {
    await gql(`mutation($id: String!) { accord { revokeConsent(consentId: $id) { id status } } }`, { id });
    say(`Your consent for ${names} is withdrawn. From now on they will not receive your records under it.`);
    await loadConsents();
  } catch (error) {
    say(`Could not withdraw the consent: ${error.message}`, true);
  }
}

function fillGrantForm() {
  const agencies = $("grant-agencies");
  agencies.replaceChildren();
  for (const agency of state.agencies) {
    const id = `grant-agency-${agency.id}`;
    agencies.append(el("label", { for: id },
      el("input", { type: "checkbox", id, name: "grantee", value: agency.id }), agency.name));
  }
  const categories = $("grant-categories");
  categories.replaceChildren();
  for (const [value, text] of CATEGORY_CHOICES) {
    const id = `grant-category-${value}`;
    categories.append(el("label", { for: id },
      el("input", { type: "checkbox", id, name: "category", value }), text));
  }
}

async function grant(event) {
  event.preventDefault();
  const form = event.target;
  const grantees = [...form.querySelectorAll("input[name=grantee]:checked")].map((i) => i.value);
  const categories = [...form.querySelectorAll("input[name=category]:checked")].map((i) => i.value);
  if (!grantees.length) {
    say("Choose at least one agency to share with.", true);
    return;
  }
  const days = Number($("grant-days").value || 365);
  try {
    await gql(`mutation($input: AccordConsentInput!) { accord { grantConsent(input: $input) { id } } }`,
      { input: { grantees, categories: categories.length ? categories : null, days } });
    say("Your consent is recorded on the ledger.");
    form.reset();
    await loadConsents();
  } catch (error) {
    say(`Could not record the consent: ${error.message}`, true);
  }
}

async function download(path, filename, print) {
  try {
    const response = await fetch(path, { headers: { authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new Error(await response.text());
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    if (print) {
      window.open(url, "_blank", "noopener");
    } else {
      const link = el("a", { href: url, download: filename });
      document.body.append(link);
      link.click();
      link.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    say(`Could not export: ${error.message}`, true);
  }
}

// -- auditor and agency administrator ------------------------------------------------------------

function fillAgencySelects() {
  for (const id of ["f-requester", "f-provider"]) {
    const select = $(id);
    select.replaceChildren(el("option", { value: "" }, "Any"));
    for (const agency of state.agencies) select.append(el("option", { value: agency.id }, agency.name));
  }
}

function currentFilter() {
  const form = $("filter-form");
  const filter = {};
  for (const name of ["subject", "requestingAgency", "providingAgency", "category", "purpose", "since", "until"]) {
    const value = form.elements[name].value.trim();
    if (value) filter[name] = value;
  }
  return filter;
}

async function loadChart() {
  try {
    const data = await gql(`query($filter: AccordHistoryFilter) { accord {
      activity(filter: $filter) { day disclosures denials breakGlass } } }`, { filter: currentFilter() });
    drawChart(data.activity);
  } catch (error) {
    say(`Could not load the activity chart: ${error.message}`, true);
  }
}

function drawChart(days) {
  const NS = "http://www.w3.org/2000/svg";
  const width = 640;
  const height = 200;
  const pad = 28;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + pad}`);
  svg.setAttribute("role", "img");
  const total = days.reduce((n, d) => n + d.disclosures, 0);
  const refused = days.reduce((n, d) => n + d.denials, 0);
  svg.setAttribute("aria-label",
    `${total} disclosures and ${refused} refusals over ${days.length} day(s)`);
  const max = Math.max(1, ...days.map((d) => d.disclosures + d.denials));
  const slot = (width - pad) / Math.max(days.length, 1);
  const bar = Math.max(2, Math.min(40, slot * 0.7));
  days.forEach((d, i) => {
    const x = pad + i * slot + (slot - bar) / 2;
    let y = height;
    for (const [count, cls, label] of [[d.disclosures, "legend-disclosure", "disclosures"],
                                       [d.denials, "legend-denial", "refusals"]]) {
      if (!count) continue;
      const h = (count / max) * (height - 10);
      y -= h;
      const rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", x.toFixed(1));
      rect.setAttribute("y", y.toFixed(1));
      rect.setAttribute("width", bar.toFixed(1));
      rect.setAttribute("height", h.toFixed(1));
      rect.setAttribute("class", cls);
      const title = document.createElementNS(NS, "title");
      title.textContent = `${d.day}: ${count} ${label}`;
      rect.append(title);
      svg.append(rect);
    }
    if (days.length <= 14 || i % Math.ceil(days.length / 7) === 0) {
      const text = document.createElementNS(NS, "text");
      text.setAttribute("x", (x + bar / 2).toFixed(1));
      text.setAttribute("y", String(height + 18));
      text.setAttribute("text-anchor", "middle");
      text.setAttribute("font-size", "11");
      text.textContent = d.day.slice(5);
      svg.append(text);
    }
  });
  const top = document.createElementNS(NS, "text");
  top.setAttribute("x", "0");
  top.setAttribute("y", "12");
  top.setAttribute("font-size", "11");
  top.textContent = String(max);
  svg.append(top);
  const axis = document.createElementNS(NS, "line");
  for (const [k, v] of [["x1", pad], ["x2", width], ["y1", height], ["y2", height], ["stroke", "#1a1a1a"]]) {
    axis.setAttribute(k, String(v));
  }
  svg.append(axis);
  $("chart").replaceChildren(svg);
  $("chart-caption").textContent =
    `Disclosures (blue) and refusals (orange) per day: ${total} disclosures, ${refused} refusals.`;
  const body = $("chart-table").tBodies[0];
  body.replaceChildren(...days.map((d) =>
    el("tr", {}, el("td", {}, d.day), el("td", {}, d.disclosures), el("td", {}, d.denials),
       el("td", {}, d.breakGlass))));
}

const AUDIT_DISCLOSURES = `query($filter: AccordHistoryFilter, $after: String) { accord {
  disclosures(filter: $filter, first: 50, after: $after) { totalCount nextCursor items {
  index time subject requester { agency { name } } provider { name } categories { name }
  purpose { code } basis { consents policies } } } } }`;

async function loadDisclosures(fresh) {
  try {
    const data = await gql(AUDIT_DISCLOSURES, { filter: currentFilter(), after: fresh ? null : state.auditCursor });
    const page = data.disclosures;
    const body = $("disclosures").tBodies[0];
    if (fresh) body.replaceChildren();
    for (const item of page.items) {
      body.append(el("tr", { "data-index": item.index },
        el("td", {}, item.index), el("td", {}, when(item.time)),
        el("td", {}, item.requester.agency.name), el("td", {}, item.provider.name),
        el("td", {}, el("code", {}, item.subject.slice(0, 12))),
        el("td", {}, item.categories.map((c) => c.name).join(", ")),
        el("td", {}, item.purpose.code),
        el("td", {}, [...item.basis.consents, ...item.basis.policies].join(", ")),
        el("td", {}, el("button", { type: "button", class: "secondary",
                                    "aria-label": `Replay the decision of entry ${item.index}`,
                                    onclick: () => replay(item.index) }, "Replay"))));
    }
    $("disclosures-count").textContent = `${page.totalCount} disclosure(s) match.`;
    state.auditCursor = page.nextCursor;
    $("disclosures-more").hidden = !page.nextCursor;
  } catch (error) {
    say(`Could not load disclosures: ${error.message}`, true);
  }
}

async function replay(index) {
  try {
    const data = await gql(`query($index: Int!) { accord { replayDecision(index: $index) {
      match differences evaluatedAt } } }`, { index });
    const result = data.replayDecision;
    if (result.match) {
      say(`Entry ${index} replayed from the ledger as of entry ${result.evaluatedAt}: the same decision on the same basis.`);
    } else {
      say(`Entry ${index} replayed differently: ${result.differences.join("; ")}`, true);
    }
  } catch (error) {
    say(`Could not replay entry ${index}: ${error.message}`, true);
  }
}

async function loadDenials() {
  try {
    const data = await gql(`{ accord { denials(first: 50) { items { index time
      requester { agency { name } } provider { name } categories { name } code reason } } } }`);
    const body = $("denials").tBodies[0];
    body.replaceChildren(...data.denials.items.map((item) =>
      el("tr", { "data-index": item.index }, el("td", {}, item.index), el("td", {}, when(item.time)),
        el("td", {}, item.requester.agency.name), el("td", {}, item.provider.name),
        el("td", {}, item.categories.map((c) => c.name).join(", ")), el("td", {}, item.code),
        el("td", {}, item.reason))));
  } catch (error) {
    say(`Could not load refusals: ${error.message}`, true);
  }
}

async function loadBreakGlass() {
  try {
    const data = await gql(`{ accord { breakGlassReview(first: 50) { items { index time
      requester { agency { name } } provider { name } justification categories { name } } } } }`);
    const list = $("bg-queue");
    list.replaceChildren();
    const canReview = state.me.view === "auditor";
    for (const item of data.breakGlassReview.items) {
      const noteId = `bg-note-${item.index}`;
      const li = el("li", { "data-index": item.index },
        el("div", {}, `Entry ${item.index}, ${when(item.time)}: ${item.requester.agency.name} `,
          `opened ${item.categories.map((c) => c.name).join(", ")} held by ${item.provider.name}.`),
        el("div", {}, `Justification: ${item.justification}`));
      if (canReview) {
        li.append(el("label", { for: noteId }, `Review note for entry ${item.index}`),
          el("input", { id: noteId, autocomplete: "off" }),
          el("button", { type: "button", onclick: () => review(item.index, "JUSTIFIED") }, "Justified"),
          el("button", { type: "button", class: "danger", onclick: () => review(item.index, "UNJUSTIFIED") },
            "Not justified"));
      }
      list.append(li);
    }
    if (!data.breakGlassReview.items.length) list.append(el("li", {}, "Nothing awaits review."));
  } catch (error) {
    say(`Could not load the review queue: ${error.message}`, true);
  }
}

async function review(index, outcome) {
  const note = ($(`bg-note-${index}`) || {}).value || "";
  try {
    await gql(`mutation($entry: Int!, $outcome: AccordReviewOutcome!, $note: String!) { accord {
      reviewBreakGlass(entry: $entry, outcome: $outcome, note: $note) { index review { index } } } }`,
      { entry: index, outcome, note });
    say(`Review of entry ${index} recorded on the ledger.`);
    await Promise.all([loadBreakGlass(), loadLedger()]);
  } catch (error) {
    say(`Could not record the review: ${error.message}`, true);
  }
}

async function loadLedger() {
  try {
    const data = await gql(`{ accord { ledger { checkpoint { note size rootHash quorum final
      witnessKeys cosignatures { witness time } } } } }`);
    const cp = data.ledger.checkpoint;
    $("ledger-size").textContent = String(cp.size);
    $("ledger-root").textContent = cp.rootHash;
    const names = cp.cosignatures.map((c) => `${c.witness} (${when(c.time)})`);
    const checked = await checkCosignatures(cp.note, cp.witnessKeys);
    const verdict = checked === null
      ? "this browser cannot check Ed25519 signatures"
      : `${checked} verified in this browser`;
    $("ledger-cosignatures").textContent = names.length
      ? `${names.join(", ")}; ${verdict}; ${cp.final ? "final" : `needs ${cp.quorum}`}`
      : `none yet; ${cp.final ? "final" : `needs ${cp.quorum}`}`;
    $("ledger-note").textContent = cp.note;
  } catch (error) {
    say(`Could not load the ledger status: ${error.message}`, true);
  }
}

// -- receipt verification (RFC 9162, SHA-256 from Web Crypto) ------------------------------------

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

async function sha256(...parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    data.set(part, at);
    at += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(index >= 0 && index < size)) throw new Error(`entry ${index} is outside a tree of size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("the proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(NODE, p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
  return r;
}

function parseCheckpoint(note) {
  const lines = note.replace(/\r\n/g, "\n").split("\n");
  const size = Number(lines[1]);
  if (!lines[0] || !/^\d+$/.test(lines[1] || "") || !lines[2]) {
    throw new Error("that is not a checkpoint (origin, size and root hash lines)");
  }
  return { origin: lines[0], size, root: fromBase64(lines[2]) };
}

// The log's signature on a checkpoint (C2SP signed note, Ed25519): the key id must be
// SHA-256(name || "\n" || 0x01 || public key)[:4] and the signature must cover the note body.
async function checkNoteSignature(note, verifierKey) {
  const first = verifierKey.indexOf("+");
  const second = verifierKey.indexOf("+", first + 1);
  if (first < 1 || second < 0) throw new Error("the log key is not a name+id+key verifier key");
  const name = verifierKey.slice(0, first);
  const keyId = verifierKey.slice(first + 1, second).toLowerCase();
  const material = fromBase64(verifierKey.slice(second + 1).trim());
  if (material.length !== 33 || material[0] !== 1) throw new Error("the log key is not an Ed25519 key");
  const publicKey = material.slice(1);
  const nameBytes = new TextEncoder().encode(`${name}\n`);
  const computed = (await sha256(nameBytes, material)).slice(0, 4);
  if ([...computed].map((b) => b.toString(16).padStart(2, "0")).join("") !== keyId) {
    throw new Error("the log key's id does not match the key");
  }
  const text = note.replace(/\r\n/g, "\n");
  const at = text.lastIndexOf("\n\n");
  if (at < 0) throw new Error("the checkpoint carries no signature");
  const body = text.slice(0, at + 1);
  for (const line of text.slice(at + 2).split("\n")) {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[1] !== name) continue;
    const raw = fromBase64(parts[2]);
    const lineId = [...raw.slice(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (lineId !== keyId) continue;
    let key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      return null; // this browser has no Ed25519 in Web Crypto
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, raw.slice(4), new TextEncoder().encode(body));
  }
  throw new Error(`the checkpoint is not signed by ${name}`);
}

function parseKey(text, algorithm) {
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 1 || second < 0) throw new Error("not a name+id+key verifier key");
  const material = fromBase64(text.slice(second + 1).trim());
  if (material.length !== 33 || material[0] !== algorithm) throw new Error("not an Ed25519 key");
  return { name: text.slice(0, first), id: text.slice(first + 1, second).toLowerCase(), material };
}

function hex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Witness cosignatures (C2SP tlog-cosignature, cosignature/v1): each signs
// "cosignature/v1\ntime <t>\n" followed by the checkpoint body, with a key whose id is
// SHA-256(name || "\n" || 0x04 || public key)[:4]. Returns how many configured witnesses'
// lines verify, or null when this browser has no Ed25519.
async function checkCosignatures(note, witnessKeys) {
  const at = note.lastIndexOf("\n\n");
  if (at < 0) return 0;
  const body = note.slice(0, at + 1);
  const lines = note.slice(at + 2).split("\n").filter(Boolean);
  let verified = 0;
  for (const text of witnessKeys) {
    const key = parseKey(text, 4);
    const computed = (await sha256(new TextEncoder().encode(`${key.name}\n`), key.material)).slice(0, 4);
    if (hex(computed) !== key.id) continue;
    for (const line of lines) {
      const parts = line.split(" ");
      if (parts.length !== 3 || parts[1] !== key.name) continue;
      const raw = fromBase64(parts[2]);
      if (raw.length !== 76 || hex(raw.slice(0, 4)) !== key.id) continue;
      const time = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
      const message = new TextEncoder().encode(`cosignature/v1\ntime ${time}\n${body}`);
      let imported;
      try {
        imported = await crypto.subtle.importKey("raw", key.material.slice(1), { name: "Ed25519" }, false, ["verify"]);
      } catch (error) {
        return null;
      }
      if (await crypto.subtle.verify({ name: "Ed25519" }, imported, raw.slice(12), message)) verified += 1;
    }
  }
  return verified;
}

async function verifyReceipt(index, pastedNote, pastedKey) {
  const note = pastedNote.trim()
    ? pastedNote
    : await (await fetch("/ledger/checkpoint")).text();
  const checkpoint = parseCheckpoint(note);
  const verifierKey = pastedKey.trim() || (await (await fetch("/ledger/key")).text()).trim();
  const signed = await checkNoteSignature(note, verifierKey);
  if (signed === false) throw new Error("the checkpoint's signature does not verify with the log key");
  const proofResponse = await fetch(`/ledger/proof/inclusion?index=${index}&size=${checkpoint.size}`);
  const proof = await proofResponse.json();
  if (!proofResponse.ok) throw new Error(proof.error || "no proof");
  const entryResponse = await fetch(`/ledger/entries?start=${index}&end=${index + 1}`);
  if (!entryResponse.ok) throw new Error((await entryResponse.json()).error);
  let entry = new Uint8Array(await entryResponse.arrayBuffer());
  if (entry[entry.length - 1] === 10) entry = entry.slice(0, -1);
  const leaf = await sha256(LEAF, entry);
  const root = await rootFromInclusionProof(index, checkpoint.size, leaf, proof.hashes.map(fromBase64));
  const ok = root.length === checkpoint.root.length && root.every((b, i) => b === checkpoint.root[i]);
  const type = JSON.parse(new TextDecoder().decode(entry)).type;
  return { ok, signed, size: checkpoint.size, type, root: toBase64(root) };
}

async function verifyFromList(index) {
  $("verify-index").value = String(index);
  $("verify-section").scrollIntoView();
  await runVerify();
  $("verify-result").focus();
}

async function runVerify(event) {
  if (event) event.preventDefault();
  const result = $("verify-result");
  result.className = "";
  result.textContent = "Checking…";
  const index = Number($("verify-index").value);
  if (!Number.isInteger(index) || index < 0) {
    result.className = "failed";
    result.textContent = "Enter a receipt number (0 or more).";
    return;
  }
  try {
    const outcome = await verifyReceipt(index, $("verify-checkpoint").value, $("verify-key").value);
    if (outcome.ok) {
      result.className = "verified";
      const signature = outcome.signed
        ? "whose signature by the log key checks out"
        : "(this browser cannot check its Ed25519 signature)";
      result.textContent = `Verified: entry ${index} (${outcome.type}) is in the ledger of ${outcome.size} entries; the proof leads to the root of the checkpoint, ${signature}.`;
    } else {
      result.className = "failed";
      result.textContent = `Not verified: the proof for entry ${index} does not lead to the checkpoint's root.`;
    }
  } catch (error) {
    result.className = "failed";
    result.textContent = `Not verified: ${error.message}`;
  }
}

// -- wiring ----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value);
  });
  $("signout").addEventListener("click", signOut);
  $("timeline-more").addEventListener("click", () => loadTimeline(false));
  $("grant-form").addEventListener("submit", grant);
  $("export-csv").addEventListener("click", () => download("/accord/accounting.csv", "accounting-of-disclosures.csv", false));
  $("export-print").addEventListener("click", () => download("/accord/accounting.html", null, true));
  $("filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadDisclosures(true);
    loadChart();
  });
  $("disclosures-more").addEventListener("click", () => loadDisclosures(false));
  $("verify-form").addEventListener("submit", runVerify);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
