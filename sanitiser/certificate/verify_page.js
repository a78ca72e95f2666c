"use strict";
// Offline check of a sanitisation token (see sanitiser/certificate/qr.py for the layout and
// verify.py::verify_token_text for the Python checks this mirrors, in the same order).
// Nothing in the token is trusted: keys, names and validity come from the built-in trust JSON.

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEAD_LEN = { 1: 52, 2: 64 }; // v1 >BBB16sII8s16sB, v2 >BBBBB16sII8s16sQBBB
const FLAG_MASK = { 1: 0x07, 2: 0x3f };
const SIG_LEN = 64;
const MAX_SERIAL = 40;
const MAX_MAKE_MODEL = 40;
const MAX_METHOD = 24;
const FUTURE_SKEW = 86400; // seconds
// A device token (version 3; sanitiser/certificate/device_token.py has the layout).
const DEVICE_HEAD = 62; // >BBB16sII8s16sHIBBBBB
const MAX_TAG = 24;
const MAX_CPU = 40;
const MAX_DRIVES = 8;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function bigOf(bytes) {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

function minuteText(seconds) {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ")}Z`;
}

class Refusal extends Error {
  constructor(message, unusable) {
    super(message);
    this.unusable = Boolean(unusable);
  }
}

function extractToken(text) {
  const t = String(text).trim();
  const i = t.lastIndexOf("#");
  return i >= 0 ? t.slice(i + 1) : t;
}

function base32Decode(text) {
  const out = [];
  let value = 0;
  let bits = 0;
  for (const ch of text) {
    value = (value << 5) | B32.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  if (bits >= 5) throw new Refusal("the token is not valid base32 (altered?)");
  if (value !== 0) throw new Refusal("the token is not canonical base32 (altered?)");
  return Uint8Array.from(out);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function uuidText(bytes) {
  const h = hex(bytes);
  return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
}

function utf8(bytes, what) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    throw new Refusal(`the token's ${what} is not UTF-8 (altered?)`);
  }
}

// Mirrors sanitiser.certificate.qr.decode_token: the same checks in the same order.
function decodeToken(text, trust) {
  const tok = extractToken(text);
  if (!tok || !/^[A-Z2-7]+$/.test(tok)) {
    throw new Refusal("not a sanitisation token (expected base32 text)", true);
  }
  const raw = base32Decode(tok);
  if (raw.length < HEAD_LEN[1] + SIG_LEN) {
    throw new Refusal("the token is too short (truncated or altered)");
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = raw[0];
  const flags = raw[1];
  const codes = raw[2];
  if (version === 3) return decodeDeviceToken(raw, view, trust);
  if (version !== 1 && version !== 2) throw new Refusal(`unknown token version ${version}`);
  const head = HEAD_LEN[version];
  if (raw.length < head + SIG_LEN) {
    throw new Refusal("the token is too short (truncated or altered)");
  }
  if (flags & ~FLAG_MASK[version]) throw new Refusal("the token has unknown flags set (altered?)");
  const lengths = version === 1 ? [raw[51], 0, 0] : [raw[61], raw[62], raw[63]];
  if (raw.length !== head + lengths[0] + lengths[1] + lengths[2] + SIG_LEN) {
    throw new Refusal("the token length does not match its contents (altered?)");
  }
  const statusIndex = codes >> 4;
  const categoryIndex = codes & 0xf;
  if (statusIndex >= trust.statuses.length || categoryIndex >= trust.categories.length) {
    throw new Refusal("the token's status or category code is unknown (altered?)");
  }
  const body = raw.slice(0, raw.length - SIG_LEN);
  const serialEnd = head + lengths[0];
  const namesEnd = serialEnd + lengths[1];
  const serial = utf8(body.slice(head, serialEnd), "serial");
  const at = version === 1 ? 3 : 5; // where the certificate id starts
  const token = {
    version,
    simulated: Boolean(flags & 1),
    development: Boolean(flags & 2),
    verified: Boolean(flags & 4),
    status: trust.statuses[statusIndex],
    category: trust.categories[categoryIndex],
    certificateId: uuidText(raw.slice(at, at + 16)),
    finishedAt: view.getUint32(at + 16),
    signedAt: view.getUint32(at + 20),
    keyId: hex(raw.slice(at + 24, at + 32)),
    digestPrefix: hex(raw.slice(at + 32, at + 48)),
    serial,
    serialTruncated: false,
    method: "",
    methodTruncated: false,
    makeModel: "",
    makeModelTruncated: false,
    capacityBytes: null,
    destination: "",
    body,
    signature: raw.slice(raw.length - SIG_LEN),
  };
  if (version === 1) return token;
  const methodCode = raw[3];
  const routeCode = raw[4];
  if (methodCode > trust.methods.length || routeCode >= trust.destinations.length) {
    throw new Refusal("the token's method or destination code is unknown (altered?)");
  }
  if (lengths[0] > MAX_SERIAL || lengths[1] > MAX_MAKE_MODEL || lengths[2] > MAX_METHOD) {
    throw new Refusal("the token's text is longer than a token allows (altered?)");
  }
  if ((methodCode && lengths[2]) || (flags & 32 && !lengths[2])) {
    throw new Refusal("the token's method fields disagree (altered?)");
  }
  token.makeModel = utf8(body.slice(serialEnd, namesEnd), "make and model");
  token.method = methodCode
    ? trust.methods[methodCode - 1][0]
    : utf8(body.slice(namesEnd), "method");
  token.serialTruncated = Boolean(flags & 8);
  token.makeModelTruncated = Boolean(flags & 16);
  token.methodTruncated = Boolean(flags & 32);
  token.capacityBytes = view.getBigUint64(53);
  token.destination = trust.destinations[routeCode][0];
  return token;
}

// A device token, decoded as strictly as device_token.decode_device_token does.
function decodeDeviceToken(raw, view, trust) {
  if (raw.length < DEVICE_HEAD + SIG_LEN) {
    throw new Refusal("the device token is too short (truncated or altered)");
  }
  const flags = raw[1];
  const gradeIndex = raw[2] >> 4;
  const routeIndex = raw[2] & 0xf;
  const battery = raw[57];
  const [n, t, d, c] = [raw[58], raw[59], raw[60], raw[61]];
  if (raw.length !== DEVICE_HEAD + t + d + c + 2 * n + SIG_LEN) {
    throw new Refusal("the token length does not match its contents (altered?)");
  }
  if (t > MAX_TAG || d > MAX_MAKE_MODEL || c > MAX_CPU || n > MAX_DRIVES) {
    throw new Refusal("the token's text is longer than a token allows (altered?)");
  }
  if (
    gradeIndex >= trust.grades.length ||
    routeIndex >= trust.deviceRoutes.length ||
    (battery > 200 && battery < 255)
  ) {
    throw new Refusal("the token's grade, destination or battery code is unknown (altered?)");
  }
  const body = raw.slice(0, raw.length - SIG_LEN);
  let at = DEVICE_HEAD;
  const tag = utf8(body.slice(at, (at += t)), "tag");
  const makeModel = utf8(body.slice(at, (at += d)), "make and model");
  const cpu = utf8(body.slice(at, (at += c)), "CPU");
  const drives = [];
  for (let i = 0; i < n; i++, at += 2) {
    const code = body[at];
    const method = body[at + 1];
    if (
      code >> 4 >= trust.statuses.length ||
      (code & 0xf) >= trust.categories.length ||
      method > trust.methods.length
    ) {
      throw new Refusal("a drive's code in the token is unknown (altered?)");
    }
    drives.push({
      status: trust.statuses[code >> 4],
      category: trust.categories[code & 0xf],
      method: method ? trust.methods[method - 1][0] : "",
    });
  }
  const issued = view.getUint32(19);
  return {
    version: 3,
    simulated: Boolean(flags & 1),
    development: Boolean(flags & 2),
    ready: Boolean(flags & 4),
    allSanitised: Boolean(flags & 8),
    tagTruncated: Boolean(flags & 16),
    makeModelTruncated: Boolean(flags & 32),
    cpuTruncated: Boolean(flags & 64),
    moreDrives: Boolean(flags & 128),
    grade: trust.grades[gradeIndex],
    destination: trust.deviceRoutes[routeIndex],
    certificateId: uuidText(raw.slice(3, 19)),
    finishedAt: issued, // the dates checked are the issue and signing times
    signedAt: view.getUint32(23),
    keyId: hex(raw.slice(27, 35)),
    digestPrefix: hex(raw.slice(35, 51)),
    ramGib: view.getUint16(51),
    storageGb: view.getUint32(53),
    batteryPct: battery === 255 ? null : battery,
    tag,
    makeModel,
    cpu,
    drives,
    body,
    signature: raw.slice(raw.length - SIG_LEN),
  };
}

function b64Bytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function utcText(seconds) {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function dayText(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

// The verdict for one token or URL: {state: "valid"|"invalid"|"unusable", reason, token, station}.
async function checkToken(text, trust, nowSeconds) {
  let token = null;
  let station = null;
  try {
    token = decodeToken(text, trust);
    station = trust.stations.find((s) => s.keyId === token.keyId) || null;
    if (station === null) {
      throw new Refusal(
        `signed by a key that is not one of ${trust.organisation}'s stations ` +
          `(key id ${token.keyId})`,
      );
    }
    if (token.signedAt >= trust.lowSSince && bigOf(token.signature.slice(32)) > P256_N / 2n) {
      throw new Refusal(
        "the token's signature is not in canonical (low-s) form: a second signature made " +
          "from the original, not one the station made",
      );
    }
    const key = await crypto.subtle.importKey(
      "raw",
      b64Bytes(station.publicKey),
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const ok = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      token.signature,
      token.body,
    );
    if (!ok) throw new Refusal("the token's signature does not match its contents");
    if (Math.max(token.finishedAt, token.signedAt) > nowSeconds + FUTURE_SKEW) {
      throw new Refusal("the token claims a date in the future");
    }
    if (token.signedAt < station.notBefore || token.signedAt > station.notAfter) {
      throw new Refusal(
        `the station certificate '${station.name}' was not valid at ${utcText(token.signedAt)} ` +
          `(valid ${dayText(station.notBefore)} to ${dayText(station.notAfter)})`,
      );
    }
    if (station.revokedAt !== null && station.revokedAt !== undefined) {
      if (station.revokedFor !== "retired") {
        throw new Refusal(
          `the station certificate '${station.name}' was revoked for key compromise on ` +
            `${minuteText(station.revokedAt)}: nothing it signed can be trusted`,
        );
      }
      if (token.signedAt >= station.revokedAt) {
        throw new Refusal(
          `the station '${station.name}' was retired (revoked) on ` +
            `${minuteText(station.revokedAt)} and may sign nothing after that`,
        );
      }
    }
    if (token.development !== station.development) {
      throw new Refusal("the token's DEVELOPMENT KEY marker does not match its signer");
    }
  } catch (e) {
    if (e instanceof Refusal) {
      return { state: e.unusable ? "unusable" : "invalid", reason: e.message, token, station };
    }
    return {
      state: "invalid",
      reason: `the token is damaged or altered (${e && e.message ? e.message : e})`,
      token,
      station,
    };
  }
  return { state: "valid", reason: "", token, station };
}

// ---- display -------------------------------------------------------------------------------

// Control, format, surrogate, private-use, unassigned and separator characters made visible,
// as sanitiser.certificate.pdf.visible does (a serial must not reorder or hide text).
function visible(text) {
  return String(text).replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/gu, (ch) => {
    const code = ch.codePointAt(0);
    return code < 0x100
      ? "\\x" + code.toString(16).padStart(2, "0")
      : "\\u" + code.toString(16).padStart(4, "0");
  });
}

const STATUS_TEXT = {
  sanitised: ["Sanitised", "The drive's data was removed and the result checked."],
  failed: ["NOT sanitised: the sanitisation failed", "Do not reuse this drive as clean."],
  refused: ["NOT sanitised: the station refused", "The drive was not erased."],
  aborted: ["NOT sanitised: aborted", "The sanitisation was stopped before it finished."],
};
// As sanitiser.certificate.qr.human_bytes: decimal units, three significant figures at most,
// halves rounded up, in exact integer (BigInt) arithmetic.
const UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"];

function humanBytes(n) {
  if (n < 1000n) return `${n} B`;
  let k = 1;
  while (k + 1 < UNITS.length && n >= 1000n ** BigInt(k + 1)) k += 1;
  for (;;) {
    const unit = 1000n ** BigInt(k);
    const tenths = (n * 10n + unit / 2n) / unit;
    if (tenths < 1000n) return `${tenths / 10n}.${tenths % 10n} ${UNITS[k]}`;
    const whole = (n + unit / 2n) / unit;
    if (whole < 1000n || k + 1 === UNITS.length) return `${whole} ${UNITS[k]}`;
    k += 1;
  }
}

function capacityText(n) {
  if (n === null || n === undefined || n === 0n) return "unknown";
  const grouped = n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${humanBytes(n)} (${grouped} bytes)`;
}

function cut(text, truncated) {
  return text + (truncated ? "\u2026" : "");
}

// The label of a method id (the id itself when it is not in the table), as qr.method_label.
function methodLabel(token, trust) {
  const known = trust.methods.find((m) => m[0] === token.method);
  return cut(known ? known[1] : token.method, token.methodTruncated);
}

function destinationLabel(route, trust) {
  const known = trust.destinations.find((d) => d[0] === route);
  return known ? known[1] : route;
}

const CATEGORY_TEXT = {
  clear: "Clear (NIST SP 800-88)",
  purge: "Purge (NIST SP 800-88)",
  destroy: "Destroy (NIST SP 800-88)",
};

const PDF_NOTE =
  "The full record (commands run, verification details, drive health, operator) is in the " +
  "signed PDF certificate: ask the organisation for it, quoting the certificate ID.";
const PDF_NOTE_V1 =
  "This is an older label: the make, model, capacity and exact method are in the signed PDF " +
  "certificate. Ask the organisation for it, quoting the certificate ID.";

function el(id) {
  return document.getElementById(id);
}

function addFact(list, label, value, mono) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (mono) dd.className = "mono";
  list.append(dt, dd);
}

function addBanner(holder, strong, rest) {
  const div = document.createElement("div");
  div.className = "banner";
  const b = document.createElement("strong");
  b.textContent = strong;
  div.append(b, document.createTextNode(rest));
  holder.append(div);
}

function show(result, trust) {
  const state = result.state;
  const valid = state === "valid";
  document.body.dataset.state = state;
  const verdict = el("verdict");
  verdict.className = "verdict " + (valid ? "valid" : state === "empty" ? "empty" : "invalid");
  el("verdict-mark").textContent = valid ? "\u2713" : state === "empty" ? "?" : "\u2717";
  el("verdict-title").textContent = valid ? "VALID" : state === "empty" ? "No certificate" : "NOT VALID";
  if (valid) {
    el("verdict-reason").textContent =
      `Signed by ${trust.organisation}, station ${result.station.name}.`;
  } else {
    el("verdict-reason").textContent = visible(result.reason);
  }
  const banners = el("banners");
  banners.replaceChildren();
  const token = result.token;
  if (valid && token.simulated) {
    addBanner(banners, "SIMULATED", ": a lab test drive, not a real sanitisation.");
  }
  if (valid && token.development) {
    addBanner(banners, "DEVELOPMENT KEY", ": signed with a test key, not proof for anyone.");
  }
  const outcome = el("outcome");
  const details = el("details");
  outcome.hidden = !token;
  details.hidden = !token;
  if (!token) return;
  if (token.version === 3) {
    showDevice(result, trust, valid);
    return;
  }
  const [title, detail] = STATUS_TEXT[token.status] || [token.status, ""];
  outcome.className =
    "outcome" + (!valid ? " unverified" : token.status === "sanitised" ? "" : " bad");
  el("outcome-title").textContent = title;
  el("outcome-detail").textContent = valid
    ? detail + (token.verified ? " Verified after erasure." : " Not verified after erasure.")
    : "Unverified claim: the certificate is not valid.";
  el("claims-note").hidden = valid;
  el("details-title").textContent = valid ? "Certificate details" : "What the link claims";
  const facts = el("facts");
  facts.replaceChildren();
  const v2 = token.version >= 2;
  const serial = visible(cut(token.serial, token.serialTruncated));
  addFact(facts, "Serial number", serial || "\u2014", true);
  if (v2) {
    const names = visible(cut(token.makeModel, token.makeModelTruncated));
    addFact(facts, "Make and model", names || "\u2014");
    addFact(facts, "Capacity", capacityText(token.capacityBytes));
  }
  addFact(facts, "Result", title);
  if (v2) addFact(facts, "Method", visible(methodLabel(token, trust)) || "\u2014");
  addFact(facts, "Method category", CATEGORY_TEXT[token.category] || token.category);
  addFact(facts, "Verified", token.verified ? "yes" : "no");
  if (v2) addFact(facts, "Destination", destinationLabel(token.destination, trust));
  addFact(facts, "Finished", utcText(token.finishedAt));
  addFact(facts, "Certificate ID", token.certificateId, true);
  el("pdf-note").textContent = v2 ? PDF_NOTE : PDF_NOTE_V1;
  if (valid) {
    addFact(facts, "Station", result.station.name);
    addFact(facts, "Organisation", trust.organisation);
    addFact(facts, "Signed", utcText(token.signedAt));
  }
}

// What a charity sees when it scans a device's label: the device, its specification, its
// grade and destination, and each drive sanitised by which method.
function showDevice(result, trust, valid) {
  const token = result.token;
  const outcome = el("outcome");
  const ready = token.ready ? "Ready for reuse" : "Not ready for reuse";
  outcome.className = "outcome" + (!valid ? " unverified" : token.allSanitised ? "" : " bad");
  el("outcome-title").textContent = token.allSanitised
    ? "Every drive sanitised"
    : token.drives.length
      ? "Not every drive was sanitised"
      : "No drive in this device";
  el("outcome-detail").textContent = valid
    ? `${ready}; destination: ${DEVICE_ROUTE_TEXT[token.destination] || token.destination}.`
    : "Unverified claim: the certificate is not valid.";
  el("claims-note").hidden = valid;
  el("details-title").textContent = valid ? "Device certificate" : "What the link claims";
  const facts = el("facts");
  facts.replaceChildren();
  addFact(facts, "Asset tag", visible(cut(token.tag, token.tagTruncated)) || "\u2014", true);
  addFact(facts, "Make and model", visible(cut(token.makeModel, token.makeModelTruncated)) || "\u2014");
  addFact(facts, "Processor", visible(cut(token.cpu, token.cpuTruncated)) || "not recorded");
  addFact(facts, "Memory", token.ramGib ? `${token.ramGib} GB` : "not recorded");
  const storage = token.storageGb
    ? `${token.storageGb} GB`
    : token.allSanitised && token.drives.length
      ? "under 1 GB"
      : "none sanitised";
  addFact(facts, "Storage", storage);
  addFact(facts, "Battery health", token.batteryPct === null ? "not recorded" : `${token.batteryPct}%`);
  addFact(facts, "Cosmetic grade", token.grade || "not graded");
  addFact(facts, "Ready for reuse", token.ready ? "yes" : "no");
  addFact(facts, "Destination", DEVICE_ROUTE_TEXT[token.destination] || token.destination);
  token.drives.forEach((d, i) => {
    const [title] = STATUS_TEXT[d.status] || [d.status];
    const how = d.method ? methodLabel({ method: d.method, methodTruncated: false }, trust) : "another method";
    addFact(facts, `Drive ${i + 1}`, `${title}: ${how} (${CATEGORY_TEXT[d.category] || d.category})`);
  });
  if (token.moreDrives) addFact(facts, "More drives", "listed on the PDF certificate");
  addFact(facts, "Issued", utcText(token.finishedAt));
  addFact(facts, "Certificate ID", token.certificateId, true);
  el("pdf-note").textContent = PDF_NOTE;
  if (valid) {
    addFact(facts, "Station", result.station.name);
    addFact(facts, "Organisation", trust.organisation);
    addFact(facts, "Signed", utcText(token.signedAt));
  }
}

const DEVICE_ROUTE_TEXT = {
  reuse: "reuse (passed on)",
  recycle: "recycling",
  destroy: "destruction",
  undecided: "not decided yet",
};

function showEmpty() {
  show({ state: "empty", reason: "Scan the QR code on the drive's label, or paste its link below.", token: null }, null);
}

async function run(trust) {
  const fragment = location.hash.replace(/^#/, "");
  if (!fragment.trim()) {
    showEmpty();
    return;
  }
  document.body.dataset.state = "checking";
  if (!(window.crypto && crypto.subtle)) {
    show({
      state: "unusable",
      reason: "this browser cannot check signatures here: open the page over HTTPS",
      token: null,
    }, trust);
    return;
  }
  show(await checkToken(fragment, trust, Math.floor(Date.now() / 1000)), trust);
}

function main() {
  const trust = JSON.parse(el("trust").textContent);
  el("org").textContent = trust.organisation;
  el("dev-org").hidden = !trust.development;
  el("ca-fp").textContent = trust.caFingerprint;
  el("station-list").textContent = trust.stations
    .map((s) => s.name + (s.revokedAt !== null ? " (revoked)" : ""))
    .join(", ");
  el("built-at").textContent = trust.builtAt;
  el("paste-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = extractToken(el("paste-input").value);
    el("paste-input").value = "";
    if (location.hash === "#" + token) run(trust);
    else location.hash = token;
  });
  window.addEventListener("hashchange", () => run(trust));
  run(trust).catch((e) => {
    show({ state: "invalid", reason: `the check failed (${e})`, token: null }, trust);
  });
}

if (document.body && document.body.dataset.page === "verify") main();
