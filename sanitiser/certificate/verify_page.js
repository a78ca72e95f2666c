"use strict";
// Offline check of a sanitisation token (see sanitiser/certificate/qr.py for the layout and
// verify.py::verify_token_text for the Python checks this mirrors, in the same order).
// Nothing in the token is trusted: keys, names and validity come from the built-in trust JSON.

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEAD_LEN = 52; // >BBB16sII8s16sB
const SIG_LEN = 64;
const FUTURE_SKEW = 86400; // seconds

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

function decodeToken(text, trust) {
  const tok = extractToken(text);
  if (!tok || !/^[A-Z2-7]+$/.test(tok)) {
    throw new Refusal("not a sanitisation token (expected base32 text)", true);
  }
  const raw = base32Decode(tok);
  if (raw.length < HEAD_LEN + SIG_LEN) {
    throw new Refusal("the token is too short (truncated or altered)");
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = raw[0];
  const flags = raw[1];
  const codes = raw[2];
  const n = raw[51];
  if (version !== trust.tokenVersion) throw new Refusal(`unknown token version ${version}`);
  if (flags & ~0x7) throw new Refusal("the token has unknown flags set (altered?)");
  if (raw.length !== HEAD_LEN + n + SIG_LEN) {
    throw new Refusal("the token length does not match its contents (altered?)");
  }
  const statusIndex = codes >> 4;
  const categoryIndex = codes & 0xf;
  if (statusIndex >= trust.statuses.length || categoryIndex >= trust.categories.length) {
    throw new Refusal("the token's status or category code is unknown (altered?)");
  }
  let serial;
  try {
    serial = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      raw.slice(HEAD_LEN, HEAD_LEN + n),
    );
  } catch (e) {
    throw new Refusal("the token's serial is not UTF-8 (altered?)");
  }
  return {
    simulated: Boolean(flags & 1),
    development: Boolean(flags & 2),
    verified: Boolean(flags & 4),
    status: trust.statuses[statusIndex],
    category: trust.categories[categoryIndex],
    certificateId: uuidText(raw.slice(3, 19)),
    finishedAt: view.getUint32(19),
    signedAt: view.getUint32(23),
    keyId: hex(raw.slice(27, 35)),
    digestPrefix: hex(raw.slice(35, 51)),
    serial,
    body: raw.slice(0, HEAD_LEN + n),
    signature: raw.slice(HEAD_LEN + n),
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
      throw new Refusal(
        `the station certificate '${station.name}' was revoked on ${dayText(station.revokedAt)}`,
      );
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
const CATEGORY_TEXT = {
  clear: "Clear (NIST SP 800-88)",
  purge: "Purge (NIST SP 800-88)",
  destroy: "Destroy (NIST SP 800-88)",
};

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
  addFact(facts, "Serial number", visible(token.serial) || "\u2014", true);
  addFact(facts, "Result", title);
  addFact(facts, "Method category", CATEGORY_TEXT[token.category] || token.category);
  addFact(facts, "Verified", token.verified ? "yes" : "no");
  addFact(facts, "Finished", utcText(token.finishedAt));
  addFact(facts, "Certificate ID", token.certificateId, true);
  if (valid) {
    addFact(facts, "Station", result.station.name);
    addFact(facts, "Organisation", trust.organisation);
    addFact(facts, "Signed", utcText(token.signedAt));
  }
}

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
