// The official AssemblyAI Node SDK, unchanged, against `sttwatch simulate --tls`.
//
// Environment (set by tests/simulator/test_simulator_node_sdk.py):
//   SIM_BASE_URL  https://127.0.0.1:PORT      SIM_WS_BASE  wss://127.0.0.1:PORT
//   SIM_API_KEY   a key the simulator accepts  SIM_CLIP     path of a 16 kHz mono WAV
//   SIM_FRAME_PACE_MS  pause between 50 ms audio frames (50 = real time, the default;
//                      0 against a simulator whose scenario turns strict pacing off)
//   NODE_EXTRA_CA_CERTS  the certificate `simulate --tls` printed
// Prints one JSON document on stdout: what each step saw. Exits 1 on an unexpected error.

import { readFile } from "node:fs/promises";
import { AssemblyAI } from "assemblyai";

const baseUrl = process.env.SIM_BASE_URL;
const wsBase = process.env.SIM_WS_BASE;
const apiKey = process.env.SIM_API_KEY;
const clipPath = process.env.SIM_CLIP;
const FRAME_MS = 50;
const PACE_MS = Number(process.env.SIM_FRAME_PACE_MS ?? FRAME_MS);

const client = new AssemblyAI({ apiKey, baseUrl, streamingBaseUrl: baseUrl });

/** Return the PCM samples of a WAV file (its `data` chunk). */
async function wavPcm(path) {
  const bytes = await readFile(path);
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString("ascii", offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === "data") return bytes.subarray(offset + 8, offset + 8 + size);
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send `pcm` in 50 ms frames, one per PACE_MS, the last padded with silence. */
async function sendPaced(transcriber, pcm) {
  const size = (16000 * 2 * FRAME_MS) / 1000;
  const start = Date.now();
  for (let i = 0, n = 0; i < pcm.length; i += size, n += 1) {
    const frame = Buffer.alloc(size);
    pcm.copy(frame, 0, i, Math.min(i + size, pcm.length));
    transcriber.sendAudio(frame);
    await sleep(Math.max(0, start + (n + 1) * PACE_MS - Date.now()));
  }
}

/** Run one streaming session; return the events the SDK reported and the raw frames. */
async function streamSession(params, pcm) {
  const seen = newSeen();
  const transcriber = await openSession(params, seen);
  await sendPaced(transcriber, pcm);
  await transcriber.close(true);
  return seen;
}

/** What one session saw: the SDK's events, and every frame its socket received after Begin. */
function newSeen() {
  return { begin: null, turns: [], speechStarted: [], errors: [], raw: [], close: null };
}

/** Open a session with `params`, recording into `seen`; return the transcriber. */
async function openSession(params, seen) {
  const transcriber = client.streaming.transcriber({ websocketBaseUrl: `${wsBase}/v3/ws`, ...params });
  transcriber.on("turn", (turn) => seen.turns.push(turn));
  transcriber.on("speechStarted", (event) => seen.speechStarted.push(event));
  transcriber.on("error", (error) => seen.errors.push(String(error)));
  transcriber.on("close", (code, reason) => {
    seen.close = { code, reason };
  });
  seen.begin = await transcriber.connect();
  // The SDK has no Termination event: listen on its socket too (read-only) to see every frame.
  transcriber.socket.addEventListener("message", (event) => {
    seen.raw.push(JSON.parse(event.data.toString()));
  });
  return transcriber;
}

/** The control messages: UpdateConfiguration, KeepAlive, ForceEndpoint mid-speech. */
async function controlSession(pcm) {
  const seen = newSeen();
  const transcriber = await openSession({ sampleRate: 16000 }, seen);
  transcriber.updateConfiguration({ end_of_turn_confidence_threshold: 0.5, max_turn_silence: 2000 });
  transcriber.keepAlive();
  await sendPaced(transcriber, pcm.subarray(0, 32000)); // the first second
  transcriber.forceEndpoint();
  await transcriber.close(true);
  return seen;
}

/** A session that sends nothing after Begin, opened with an inactivity timeout. */
async function idleSession() {
  const seen = newSeen();
  const transcriber = await openSession({ sampleRate: 16000, inactivityTimeout: 5 }, seen);
  for (let waited = 0; seen.close === null && waited < 5000; waited += 50) await sleep(50);
  if (seen.close === null) await transcriber.close(false);
  return seen;
}

/** Try to open a session; return how the SDK reported the failure (or that it began). */
async function tryConnect(params) {
  const transcriber = client.streaming.transcriber({
    websocketBaseUrl: `${wsBase}/v3/ws`,
    maxConnectionRetries: 0,
    ...params,
  });
  transcriber.on("error", () => {});
  try {
    await transcriber.connect();
    await transcriber.close(true);
    return { began: true };
  } catch (error) {
    return { began: false, code: error.code ?? null, message: String(error.message) };
  }
}

async function main() {
  const out = {};
  const pcm = await wavPcm(clipPath);

  // REST: upload, transcribe (create + poll), get, list, delete.
  const uploadUrl = await client.files.upload(clipPath);
  out.upload = { upload_url: uploadUrl };
  const transcript = await client.transcripts.transcribe(
    { audio: uploadUrl, speech_models: ["universal-2"], language_code: "en_us" },
    { pollingInterval: 100, pollingTimeout: 20_000 },
  );
  out.transcribe = {
    id: transcript.id,
    status: transcript.status,
    text: transcript.text,
    words: transcript.words?.length ?? 0,
    audio_duration: transcript.audio_duration,
  };
  const fetched = await client.transcripts.get(transcript.id);
  out.get = { id: fetched.id, status: fetched.status, text: fetched.text };
  const page = await client.transcripts.list({ limit: 5 });
  out.list = {
    ids: page.transcripts.map((item) => item.id),
    limit: page.page_details.limit,
  };
  const deleted = await client.transcripts.delete(transcript.id);
  out.delete = { text: deleted.text, audio_url: deleted.audio_url };

  // Streaming v3, authenticated by the API key (Authorization header).
  out.stream_key = await streamSession({ sampleRate: 16000, formatTurns: true }, pcm);

  // Streaming v3 with a temporary token (sent as ?token=, as in a browser).
  const token = await client.streaming.createTemporaryToken({ expires_in_seconds: 60 });
  out.token = { length: token.length };
  out.stream_token = await streamSession({ token, sampleRate: 16000 }, pcm);
  out.token_reused = await tryConnect({ token, sampleRate: 16000 });

  // Universal-3 Pro streaming: SpeechStarted, partials not final, formatted end of turn.
  out.stream_u3 = await streamSession({ sampleRate: 16000, speechModel: "u3-rt-pro" }, pcm);

  out.stream_controls = await controlSession(pcm);
  out.stream_idle = await idleSession();

  // Refusals the SDK must surface: a raw key is not a temporary token; a bad query value.
  out.key_as_token = await tryConnect({ token: apiKey, sampleRate: 16000 });
  out.bad_sample_rate = await tryConnect({ sampleRate: -8000 });

  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
