// The four subgraphs of the gateways-benchmark workload (accounts, inventory, products,
// reviews) in one Node process, one path each, on 127.0.0.1. Data and resolver behaviour
// follow the public workload; the SDLs are the .graphql files beside this script.
//
//   NODE_PATH=bench/gateways/node_modules node bench/subgraphs/server.cjs --port 4200
//
// GET /health answers once all four are ready; GET /stats returns request counts per
// subgraph (how many subgraph requests the gateway made), POST /stats/reset zeroes them.
"use strict";

const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const { parse, validate, execute, specifiedRules } = require("graphql");
const { buildSubgraphSchema } = require("@apollo/subgraph");

const USERS = [
  ["1", "Uri Goldshtein", "urigo"],
  ["2", "Dotan Simha", "dotansimha"],
  ["3", "Kamil Kisiela", "kamilkisiela"],
  ["4", "Arda Tanrikulu", "ardatan"],
  ["5", "Gil Gardosh", "gilgardosh"],
  ["6", "Laurin Quast", "laurin"],
].map(([id, name, username]) => ({ id, name, username, birthday: 1234567890 }));

const PRODUCTS = [
  ["1", "Table", 899, 100],
  ["2", "Couch", 1299, 1000],
  ["3", "Glass", 15, 20],
  ["4", "Chair", 499, 100],
  ["5", "TV", 1299, 1000],
  ["6", "Lamp", 6999, 300],
  ["7", "Grill", 3999, 2000],
  ["8", "Fridge", 100000, 6000],
  ["9", "Sofa", 9999, 800],
].map(([upc, name, price, weight]) => ({ upc, name, price, weight }));

const IN_STOCK = { 1: true, 2: false, 3: false, 4: false, 5: true, 6: true, 7: true, 8: false, 9: true };

// Review bodies are a few hundred characters, like the workload's.
const REVIEW_PRODUCTS = ["1", "1", "1", "1", "2", "2", "2", "2", "3", "4", "4"];
const REVIEWS = REVIEW_PRODUCTS.map((upc, i) => ({
  id: String(i + 1),
  body: `Review ${i + 1} of product ${upc}. `.repeat(8 + (i % 5) * 4).trim(),
  product: { upc },
}));

const resolvers = {
  accounts: {
    Query: {
      me: () => USERS[0],
      user: (_, { id }) => USERS.find((u) => u.id === id) || null,
      users: () => USERS,
    },
    User: { __resolveReference: (ref) => USERS.find((u) => u.id === ref.id) || null },
  },
  inventory: {
    Product: {
      __resolveReference: (ref) => ({ ...ref, inStock: IN_STOCK[ref.upc] ?? null }),
      shippingEstimate: (product) => {
        if (product.price == null) return null;
        if (product.price > 1000) return 0;
        return product.weight == null ? null : Math.floor(product.weight / 2);
      },
    },
  },
  products: {
    Query: { topProducts: (_, { first }) => PRODUCTS.slice(0, first ?? 5) },
    Product: { __resolveReference: (ref) => PRODUCTS.find((p) => p.upc === ref.upc) || null },
  },
  reviews: {
    Review: {
      __resolveReference: (ref) => REVIEWS.find((r) => r.id === ref.id) || null,
      author: () => ({ id: "1", username: "urigo" }),
    },
    User: {
      __resolveReference: (ref) => ({ id: ref.id, username: "user" }),
      reviews: () => REVIEWS.slice(0, 2),
    },
    Product: {
      __resolveReference: (ref) => ({ upc: ref.upc }),
      reviews: (product) => REVIEWS.filter((r) => r.product.upc === product.upc),
    },
  },
};

const subgraphs = {};
for (const name of Object.keys(resolvers)) {
  const sdl = fs.readFileSync(path.join(__dirname, `${name}.graphql`), "utf8");
  subgraphs[name] = {
    schema: buildSubgraphSchema({ typeDefs: parse(sdl), resolvers: resolvers[name] }),
    documents: new Map(),
    requests: 0,
  };
}

function documentFor(subgraph, query) {
  let cached = subgraph.documents.get(query);
  if (cached === undefined) {
    try {
      const document = parse(query);
      const errors = validate(subgraph.schema, document, specifiedRules);
      cached = errors.length ? { errors } : { document };
    } catch (error) {
      cached = { errors: [error] };
    }
    if (subgraph.documents.size < 1000) subgraph.documents.set(query, cached);
  }
  return cached;
}

function send(res, status, body) {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

const server = http.createServer((req, res) => {
  const url = req.url.split("?")[0];
  if (req.method === "GET" && url === "/health") return send(res, 200, { ok: true });
  if (req.method === "GET" && url === "/stats") {
    const counts = {};
    for (const [name, s] of Object.entries(subgraphs)) counts[name] = s.requests;
    return send(res, 200, counts);
  }
  if (req.method === "POST" && url === "/stats/reset") {
    for (const s of Object.values(subgraphs)) s.requests = 0;
    return send(res, 200, { ok: true });
  }
  const subgraph = subgraphs[url.slice(1)];
  if (req.method !== "POST" || subgraph === undefined) return send(res, 404, { error: "not found" });
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", async () => {
    subgraph.requests += 1;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(res, 400, { errors: [{ message: "body is not JSON" }] });
    }
    const { document, errors } = documentFor(subgraph, body.query || "");
    if (errors) return send(res, 200, { errors: errors.map((e) => ({ message: e.message })) });
    const result = await execute({
      schema: subgraph.schema,
      document,
      variableValues: body.variables,
      operationName: body.operationName,
    });
    send(res, 200, result);
  });
});
server.keepAliveTimeout = 60000;

const portIndex = process.argv.indexOf("--port");
const port = portIndex > 0 ? Number(process.argv[portIndex + 1]) : 4200;
server.listen(port, "127.0.0.1", () => console.log(`subgraphs on http://127.0.0.1:${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
