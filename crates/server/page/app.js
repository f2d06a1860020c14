// rech serve's page: uploads recordings to POST /v1/audio/transcriptions with stream=true
// (the text as each window is done, then every download in the last event), and dictates
// through the WebSocket at /v1/listen. It uses the public API only, as any client would.
"use strict";

const strings = JSON.parse(document.getElementById("strings").textContent);
const $ = (selector, root = document) => root.querySelector(selector);

/** A string of the page's language, with {name} replaced by values[name]. */
function t(key, values = {}) {
  return (strings[key] || key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

// ---- The API key: asked for once per tab when the server needs one. ----

const KEY = "rech-api-key";
const apiKey = () => sessionStorage.getItem(KEY);
const authorization = () => (apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {});

/** The server's message in an OpenAI-shaped error body, or the status line. */
function errorMessage(status, body) {
  try {
    const parsed = JSON.parse(body);
    if (parsed && parsed.error && parsed.error.message) return parsed.error.message;
  } catch (_) { /* not JSON */ }
  return `HTTP ${status}`;
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

/** Whether the server lets this tab in: asks /v1/models, and for a key on 401. */
async function checkAccess() {
  let response;
  try {
    response = await fetch("/v1/models", { headers: authorization() });
  } catch (err) {
    showError($("#server-error"), t("server_unreachable", { reason: err.message }));
    return false;
  }
  showError($("#server-error"), "");
  if (response.status === 401) {
    const wrong = apiKey() !== null;
    sessionStorage.removeItem(KEY);
    $("#key-section").hidden = false;
    showError($("#key-error"), wrong ? t("key_wrong") : "");
    $("#api-key").focus();
    return false;
  }
  if (!response.ok) {
    showError($("#server-error"), errorMessage(response.status, await response.text()));
    return false;
  }
  $("#key-section").hidden = true;
  showError($("#key-error"), "");
  return true;
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("#api-key").value.trim());
  $("#api-key").value = "";
  await checkAccess();
});

/** A 401 on any call: the key is wrong or gone; ask again. */
function keyRefused() {
  sessionStorage.removeItem(KEY);
  $("#key-section").hidden = false;
  showError($("#key-error"), t("key_wrong"));
}

// ---- Recordings: one card per file, transcribed one after another. ----

const queue = [];
let busy = false;

function formatTime(seconds) {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor(ms / 60000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const two = (n) => String(n).padStart(2, "0");
  return `${h > 0 ? `${two(h)}:` : ""}${two(m)}:${two(s)}.${String(ms % 1000).padStart(3, "0")}`;
}

function selectedOptions() {
  const options = {};
  const language = $("#language");
  if (language && language.value) options.language = language.value;
  const words = $("#words");
  if (words && words.checked) options.words = true;
  const speakers = $("#speakers");
  if (speakers && speakers.value && speakers.value !== "none") options.diarize = speakers.value;
  return options;
}

function addFiles(files) {
  for (const file of files) {
    const card = document.createElement("article");
    card.className = "job";
    card.dataset.state = "waiting";
    card.innerHTML = `<h3></h3><progress max="100" value="0"></progress>
      <p class="status"></p><p class="live"></p>`;
    $("h3", card).textContent = file.name;
    $(".status", card).textContent = t("waiting");
    $("#transcript").append(card);
    queue.push({ file, card, options: selectedOptions() });
  }
  $("#files").value = "";
  next();
}

async function next() {
  if (busy || queue.length === 0) return;
  busy = true;
  const job = queue.shift();
  try {
    await transcribe(job);
  } finally {
    busy = false;
    next();
  }
}

/** Uploads one file with stream=true and reads its server-sent events as they arrive. */
function transcribe({ file, card, options }) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("model", "rech");
  form.append("response_format", "json");
  form.append("stream", "true");
  const documents = ["text", "srt", "vtt", "verbose_json"];
  if (options.diarize) {
    documents.push("diarized_json");
    form.append("diarize", options.diarize);
  }
  for (const name of documents) form.append("include[]", name);
  if (options.language) form.append("language", options.language);
  if (options.words) form.append("timestamp_granularities[]", "word");

  const progress = $("progress", card);
  const status = $(".status", card);
  const live = $(".live", card);
  const setState = (state, text) => {
    card.dataset.state = state;
    status.textContent = text;
  };

  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    let read = 0;
    let pending = "";
    let finished = false;
    const fail = (message) => {
      if (finished) return;
      finished = true;
      progress.remove();
      setState("failed", t("failed", { message }));
      resolve();
    };
    const readEvents = () => {
      pending += xhr.responseText.slice(read);
      read = xhr.responseText.length;
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        let type = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trimStart();
        }
        if (!data) continue;
        if (type === "error") {
          fail(errorMessage(xhr.status, data));
          continue;
        }
        const event = JSON.parse(data);
        if (event.type === "transcript.text.delta") {
          live.textContent += (live.textContent ? " " : "") + event.delta;
        } else if (event.type === "transcript.text.done" && !finished) {
          finished = true;
          showResult(card, file, event, options);
          resolve();
        }
      }
    };
    xhr.open("POST", "/v1/audio/transcriptions");
    for (const [name, value] of Object.entries(authorization())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((100 * event.loaded) / event.total);
      progress.value = percent;
      setState("uploading", t("uploading", { percent }));
    };
    xhr.upload.onload = () => {
      progress.removeAttribute("value");
      setState("transcribing", t("transcribing"));
    };
    xhr.onprogress = () => {
      if (xhr.status === 200) readEvents();
    };
    xhr.onload = () => {
      if (xhr.status === 200) {
        readEvents();
        if (!finished) fail(t("connection_lost", { reason: "no result" }));
        return;
      }
      if (xhr.status === 401) keyRefused();
      fail(errorMessage(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => fail(t("server_unreachable", { reason: "network error" }));
    setState("uploading", t("uploading", { percent: 0 }));
    xhr.send(form);
  });
}

const EXTENSIONS = { text: "txt", srt: "srt", vtt: "vtt", verbose_json: "json", diarized_json: "diarized.json" };
const TYPES = { text: "text/plain", srt: "application/x-subrip", vtt: "text/vtt" };

function showResult(card, file, done, options) {
  const documents = done.documents || {};
  const verbose = JSON.parse(documents.verbose_json || "{}");
  const diarized = documents.diarized_json ? JSON.parse(documents.diarized_json) : null;
  $("progress", card)?.remove();
  $(".live", card).remove();
  card.dataset.state = "done";
  $(".status", card).textContent = t("done", { duration: formatTime(verbose.duration || 0) });

  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  audio.src = URL.createObjectURL(file);
  card.append(audio);

  const text = document.createElement("pre");
  text.className = "text";
  text.textContent = done.text;
  text.hidden = true;
  card.append(text);

  const list = document.createElement("ol");
  list.className = "segments";
  const segments = (diarized ? diarized.segments : verbose.segments) || [];
  for (const segment of segments) {
    const item = document.createElement("li");
    item.tabIndex = 0;
    item.dataset.start = segment.start;
    const time = document.createElement("time");
    time.textContent = formatTime(segment.start);
    item.append(time);
    if (diarized && segment.speaker) {
      const speaker = document.createElement("span");
      speaker.className = "speaker";
      speaker.textContent = `${segment.speaker}:`;
      item.append(speaker);
    }
    item.append(document.createTextNode(segment.text.trim()));
    const play = () => {
      audio.currentTime = segment.start;
      audio.play().catch(() => {});
    };
    item.addEventListener("click", play);
    item.addEventListener("keydown", (e) => { if (e.key === "Enter") play(); });
    list.append(item);
  }
  card.append(list);

  const actions = document.createElement("p");
  actions.className = "actions";
  actions.append(t("download"));
  const base = file.name.replace(/\.[^.]*$/, "") || "transcript";
  for (const [name, body] of Object.entries(documents)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "download";
    button.dataset.format = name;
    const extension = EXTENSIONS[name] || name;
    button.textContent = extension;
    button.addEventListener("click", () => {
      const blob = new Blob([body], { type: `${TYPES[name] || "application/json"};charset=utf-8` });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${base}.${extension}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    });
    actions.append(button);
  }
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = t("copy");
  copy.addEventListener("click", () => copyText(done.text, copy));
  actions.append(copy);
  card.append(actions);
  $("#search").hidden = false;
  $("#play-hint").hidden = false;
  filter();
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // Without a secure context there is no clipboard API: the selection's copy still works.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = t("copied");
  setTimeout(() => { button.textContent = label; }, 1500);
}

function filter() {
  const needle = $("#search").value.trim().toLocaleLowerCase();
  for (const item of document.querySelectorAll(".segments li")) {
    item.hidden = needle !== "" && !item.textContent.toLocaleLowerCase().includes(needle);
  }
}

$("#search").addEventListener("input", filter);

const drop = $("#drop");
const input = $("#files");
input.multiple = true;
input.addEventListener("change", () => addFiles([...input.files]));
$("#upload-form").addEventListener("submit", (event) => event.preventDefault());
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  addFiles([...event.dataTransfer.files]);
});

// ---- Dictation: the microphone through an AudioWorklet to /v1/listen. ----

const record = $("#record");
let session = null;

function setRecording(recording) {
  record.dataset.state = recording ? "recording" : "stopped";
  record.textContent = recording ? t("stop") : t("record");
  $("#dictation-status").textContent = recording ? t("listening") : "";
}

function webSocketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

async function startDictation() {
  const micError = $("#mic-error");
  showError(micError, "");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError(micError, t("mic_insecure"));
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  } catch (err) {
    showError(micError, err.name === "NotAllowedError"
      ? t("mic_denied")
      : t("mic_unavailable", { reason: err.message || err.name }));
    return;
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule("/page/worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm16", { channelCount: 1, channelCountMode: "explicit" });
  const url = webSocketUrl("/v1/listen");
  url.searchParams.set("sample_rate", String(context.sampleRate));
  url.searchParams.set("partial", "true");
  if (apiKey()) url.searchParams.set("api_key", apiKey());
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const current = { stream, context, socket, stopping: false };
  session = current;
  // Audio from the moment the microphone opened, kept until the socket is open, so that the
  // first syllable is not lost to the connection's setup.
  const waiting = [];
  node.port.onmessage = (event) => {
    if (current.stopping) return;
    if (socket.readyState === WebSocket.OPEN) socket.send(event.data);
    else if (socket.readyState === WebSocket.CONNECTING) waiting.push(event.data);
  };
  source.connect(node);
  // The node outputs silence; connecting it keeps the graph pulling it.
  node.connect(context.destination);
  socket.onopen = () => {
    for (const chunk of waiting.splice(0)) socket.send(chunk);
    setRecording(true);
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "partial") {
      $("#partial").textContent = message.text;
    } else if (message.type === "final") {
      const line = document.createElement("p");
      line.className = "final";
      line.dataset.start = message.start;
      line.dataset.end = message.end;
      line.textContent = message.text;
      $("#finals").append(line);
      $("#partial").textContent = "";
    } else if (message.type === "error") {
      showError(micError, message.message || event.data);
    }
  };
  socket.onclose = (event) => {
    release(current);
    if (!current.stopping && event.code !== 1000) {
      // A refused upgrade (a key no longer valid) shows only as 1006: ask the API why.
      if (event.code === 1006) checkAccess();
      showError(micError, t("connection_lost", { reason: event.reason || `code ${event.code}` }));
    }
  };
}

function release(current) {
  current.stream.getTracks().forEach((track) => track.stop());
  current.context.close().catch(() => {});
  if (session === current) {
    session = null;
    setRecording(false);
  }
}

function stopDictation() {
  if (!session) return;
  const current = session;
  current.stopping = true;
  current.stream.getTracks().forEach((track) => track.stop());
  // The server finalises what was said, sends "end" and closes the socket.
  if (current.socket.readyState === WebSocket.OPEN) {
    current.socket.send(JSON.stringify({ type: "stop" }));
  } else {
    release(current);
  }
  setRecording(false);
}

record.addEventListener("click", () => (session ? stopDictation() : startDictation()));
$("#copy-dictation").addEventListener("click", (event) => {
  const text = [...document.querySelectorAll("#finals .final")].map((p) => p.textContent).join("\n");
  copyText(text, event.currentTarget);
});
$("#clear-dictation").addEventListener("click", () => {
  $("#finals").textContent = "";
  $("#partial").textContent = "";
});
$("#dictation-section").hidden = false;

checkAccess();
