// Apollo Gateway (with Apollo Server) serving a supergraph file, for bench/federation.py.
//   node apollo-gateway.cjs --supergraph FILE --port N
"use strict";

const { readFileSync } = require("node:fs");
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { ApolloGateway } = require("@apollo/gateway");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const supergraphSdl = readFileSync(arg("--supergraph"), "utf8");
  const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
  const { url } = await startStandaloneServer(server, {
    listen: { port: Number(arg("--port", "4000")), host: "127.0.0.1" },
  });
  console.log(`Apollo Gateway at ${url}`);
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => server.stop().then(() => process.exit(0)));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
