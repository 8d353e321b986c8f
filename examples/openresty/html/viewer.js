// Fetches ICE servers and a presigned signaling URL from the nginx handlers
// and prepares a WebRTC peer connection with them.
"use strict";

async function getJSON(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}

async function prepare(channel, clientId) {
  const query = "channel=" + encodeURIComponent(channel) + "&client_id=" + encodeURIComponent(clientId);
  const ice = await getJSON("/ice-servers?" + query);
  // Chromium validates every URL scheme and requires TURN credentials here.
  const pc = new RTCPeerConnection({ iceServers: ice.iceServers });
  const signaling = await getJSON("/signaling-url?" + query);
  const url = new URL(signaling.url);
  return { pc, ice, url };
}

function summary({ pc, ice, url }) {
  return {
    ok: true,
    iceServers: pc.getConfiguration().iceServers.length,
    validFor: ice.ttl,
    stunFirst: ice.iceServers[0].urls[0].startsWith("stun:"),
    turnUrls: ice.iceServers.slice(1).reduce((n, s) => n + s.urls.length, 0),
    signalingProtocol: url.protocol,
    channelARN: url.searchParams.get("X-Amz-ChannelARN"),
    clientId: url.searchParams.get("X-Amz-ClientId"),
    algorithm: url.searchParams.get("X-Amz-Algorithm"),
    hasSignature: /^[0-9a-f]{64}$/.test(url.searchParams.get("X-Amz-Signature") || ""),
  };
}

async function run(channel, clientId) {
  const out = document.getElementById("result");
  try {
    const prepared = await prepare(channel, clientId);
    out.textContent = JSON.stringify(summary(prepared));
    prepared.pc.close();
  } catch (e) {
    out.textContent = JSON.stringify({ ok: false, error: e.name + ": " + e.message });
  }
}

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(document.getElementById("channel").value, document.getElementById("client").value);
});

// ?channel=...&client=... runs at once, which is how the browser test drives it.
const params = new URLSearchParams(location.search);
if (params.get("channel")) {
  document.getElementById("channel").value = params.get("channel");
  document.getElementById("client").value = params.get("client") || "viewer-1";
  run(params.get("channel"), params.get("client") || "viewer-1");
}
