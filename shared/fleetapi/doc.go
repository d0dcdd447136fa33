// Package fleetapi holds the JSON bodies of rig-cloud's fleet REST API
// (/v1 routes for people and tools: organisations, tokens, sites, rigs,
// agents, rig status and health history, alerts, fleet uploads, data sets,
// training jobs, the model registry). The server (cloud/internal/httpapi
// and cloud/internal/store) encodes them and decodes the requests; rigctl's
// client (tools/internal/cloudclient) decodes the answers and sends the
// requests. The agent API is shared/cloudapi.
//
// One definition serves both sides, so a field cannot drift between them;
// the JSON tags are the API. The server's OpenAPI document (GET
// /openapi.json, docs/cloud.md) is reflected from these types. Clients
// ignore fields they do not know (encoding/json's default), as the
// document's description asks: a newer server may add fields.
//
// The types carry only what is on the wire: the server's records that
// hold more (a rig's database id, a data set's blob key and firmware
// config text, a bundle's blob key) embed them (cloud/internal/store).
// Every list answer is a Page.
package fleetapi
