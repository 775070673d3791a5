// Receipt checker for the "Check it yourself" page. Runs entirely in the
// browser: SHA-256 through WebCrypto, the RFC 9162 (RFC 6962) inclusion-proof
// algorithm, and the checkpoint's Ed25519 signature (C2SP signed note) where
// the browser's WebCrypto supports Ed25519. Nothing is sent anywhere.
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("verify-config").textContent);
  var zh = config.lang !== "en";
  var PROOF_LEN_MAX = 128;
  var RECEIPT_CHARS_MAX = 4 * 1024 * 1024;

  function say(zhText, enText) { return zh ? zhText : enText; }

  function fail(zhText, enText) {
    var error = new Error(say(zhText, enText));
    error.userFacing = true;
    throw error;
  }

  function bytesFromBase64(text) {
    var binary = atob(text.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function bytesFromHex(text) {
    if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
    var bytes = new Uint8Array(text.length / 2);
    for (var i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(i * 2, 2), 16);
    return bytes;
  }

  // A 32-byte hash written as 64 hex digits or as base64.
  function hashFromText(text, what) {
    if (typeof text !== "string") fail(what + " 不是字符串", what + " is not a string");
    var bytes = bytesFromHex(text);
    if (bytes === null) {
      try { bytes = bytesFromBase64(text); } catch (e) { bytes = null; }
    }
    if (bytes === null || bytes.length !== 32) fail(what + " 不是 32 字节的哈希", what + " is not a 32-byte hash");
    return bytes;
  }

  function concat(parts) {
    var length = 0;
    parts.forEach(function (part) { length += part.length; });
    var out = new Uint8Array(length);
    var at = 0;
    parts.forEach(function (part) { out.set(part, at); at += part.length; });
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // SHA-256(0x00 || record bytes): RFC 9162 section 2.1.1.
  function leafHash(record) { return sha256(concat([new Uint8Array([0]), record])); }
  // SHA-256(0x01 || left || right).
  function nodeHash(left, right) { return sha256(concat([new Uint8Array([1]), left, right])); }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to.
  async function rootFromInclusionProof(index, size, leaf, proof) {
    if (index >= size) fail("记录序号不在树内", "the record's index is not inside the tree");
    var fn = index;
    var sn = size - 1n;
    var r = leaf;
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0n) fail("证明过长", "the proof is too long");
      var p = proof[i];
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail("证明过短", "the proof is too short");
    return r;
  }

  // A C2SP signed note: body, a blank line, then "— <name> <base64 sig>" lines.
  function parseCheckpoint(text) {
    if (typeof text !== "string") fail("收据缺少检查点", "the receipt has no checkpoint");
    var split = text.indexOf("\n\n");
    if (split < 0) fail("检查点没有签名部分", "the checkpoint has no signature block");
    var body = text.slice(0, split + 1);
    var lines = body.split("\n");
    if (lines.length < 4 || !/^[0-9]+$/.test(lines[1])) fail("检查点格式不对", "the checkpoint is malformed");
    var signatures = [];
    text.slice(split + 2).split("\n").forEach(function (line) {
      var match = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (match) signatures.push({ name: match[1], blob: bytesFromBase64(match[2]) });
    });
    return {
      body: new TextEncoder().encode(body),
      origin: lines[0],
      size: BigInt(lines[1]),
      root: hashFromText(lines[2], "root"),
      signatures: signatures,
    };
  }

  // "name+hash+base64(0x01 || key)" (a note verifier key), or a bare base64 or hex key.
  // A name holds no "+", but base64 may: only the first two "+" separate.
  function parseKey(text) {
    text = (text || "").trim();
    if (text === "") return null;
    var parts = /^([^+]+)\+([0-9a-fA-F]{8})\+(.+)$/.exec(text);
    if (parts !== null) {
      parts = parts.slice(1);
      var encoded = bytesFromBase64(parts[2]);
      if (encoded.length !== 33 || encoded[0] !== 1) fail("公钥不是 Ed25519 密钥", "the public key is not an Ed25519 key");
      return { name: parts[0], id: bytesFromHex(parts[1]), raw: encoded.slice(1) };
    }
    var raw = bytesFromHex(text) || bytesFromBase64(text);
    if (raw.length !== 32) fail("公钥长度不对", "the public key has the wrong length");
    return { name: null, id: null, raw: raw };
  }

  // true: valid; false: invalid; null: this browser cannot check Ed25519.
  async function checkSignature(checkpoint, key) {
    var publicKey;
    try {
      publicKey = await crypto.subtle.importKey("raw", key.raw, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return null;
    }
    for (var i = 0; i < checkpoint.signatures.length; i++) {
      var signature = checkpoint.signatures[i];
      if (key.name !== null && signature.name !== key.name) continue;
      if (signature.blob.length !== 68) continue;
      if (key.id !== null && !equal(signature.blob.slice(0, 4), key.id)) continue;
      var ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, signature.blob.slice(4), checkpoint.body);
      if (ok) return true;
    }
    return false;
  }

  // The protobuf fields of `bytes` (proto3 wire format): field number ->
  // list of values, a varint as a BigInt, a length-delimited field as bytes.
  // Enough to read what a record is; anything malformed reads as nothing.
  function protoFields(bytes) {
    var fields = {};
    var at = 0;
    function varint() {
      var value = 0n, shift = 0n;
      for (;;) {
        if (at >= bytes.length || shift > 63n) throw new Error("truncated varint");
        var byte = bytes[at++];
        value |= BigInt(byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) return value;
        shift += 7n;
      }
    }
    while (at < bytes.length) {
      var tag = varint();
      var number = Number(tag >> 3n);
      var wire = Number(tag & 7n);
      var value;
      if (wire === 0) value = varint();
      else if (wire === 2) {
        var length = Number(varint());
        if (at + length > bytes.length) throw new Error("truncated field");
        value = bytes.slice(at, at + length);
        at += length;
      } else if (wire === 1) { at += 8; continue; }
      else if (wire === 5) { at += 4; continue; }
      else throw new Error("unknown wire type");
      (fields[number] = fields[number] || []).push(value);
    }
    return fields;
  }

  function last(fields, number) {
    var values = fields[number];
    return values ? values[values.length - 1] : undefined;
  }

  // "1,234.56" for 123456 fen, from the integer.
  function cny(fen) {
    var negative = fen < 0n;
    if (negative) fen = -fen;
    var whole = (fen / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = (fen % 100n).toString().padStart(2, "0");
    return (negative ? "-" : "") + whole + "." + cents;
  }

  // What a verified record is, in words, from its own bytes: a donation's
  // amount, fund and date (mingzhang.v1.EventEnvelope field 20,
  // DonationReceived: fund_id 3, amount_fen 6, received_on 10). No donor is
  // named here: who may be named is the server's one rule, not the script's.
  function describeRecord(record) {
    var view = new DataView(record.buffer, record.byteOffset);
    var payload = record.slice(48, 48 + view.getUint32(4, true));
    try {
      var donation = last(protoFields(payload), 20);
      if (donation === undefined) return say("这条记录不是一笔捐赠。", "This record is not a donation.");
      var fields = protoFields(donation);
      var text = function (number) {
        var bytes = last(fields, number);
        return bytes === undefined ? "" : new TextDecoder().decode(bytes);
      };
      var fundId = text(3);
      var fund = Object.prototype.hasOwnProperty.call(config.funds || {}, fundId) ? config.funds[fundId] : fundId;
      var amount = BigInt.asIntN(64, last(fields, 6) || 0n);
      return say(
        "这条记录是：一笔 " + cny(amount) + " 元的捐赠，进入" + fund + "，日期 " + text(10) + "。",
        "This record is a donation of CNY " + cny(amount) + " to " + fund + " on " + text(10) + ".");
    } catch (e) {
      return say("无法读出这条记录的内容。", "The record's content could not be read.");
    }
  }

  async function checkReceipt(text) {
    if (text.length > RECEIPT_CHARS_MAX) fail("收据过大", "the receipt is too large");
    var receipt;
    try { receipt = JSON.parse(text); } catch (e) { fail("收据不是有效的 JSON", "the receipt is not valid JSON"); }
    if (receipt === null || typeof receipt !== "object") fail("收据不是 JSON 对象", "the receipt is not a JSON object");
    var seq = BigInt(receipt.seq);
    var treeSize = BigInt(receipt.tree_size);
    var record = bytesFromBase64(String(receipt.record || ""));
    if (record.length === 0) fail("收据缺少记录", "the receipt has no record");
    if (record.length >= 16 && record[0] === 0x4d && record[1] === 0x5a && record[2] === 0x52 && record[3] === 0x31) {
      var view = new DataView(record.buffer, record.byteOffset);
      var payloadLen = view.getUint32(4, true);
      if (record.length !== 48 + payloadLen + 36) fail("记录长度不对", "the record's length does not match its header");
      // The record carries SHA-256 of its header and payload (docs/log-format.md).
      var ownHash = await sha256(record.slice(0, 48 + payloadLen));
      if (!equal(ownHash, record.slice(48 + payloadLen, 48 + payloadLen + 32))) {
        fail("记录已损坏：自身哈希不符", "the record is damaged: its own hash does not match");
      }
      var recordSeq = view.getBigUint64(8, true);
      if (recordSeq !== seq) fail("记录中的序号与收据不符", "the record's own seq differs from the receipt's");
    } else {
      fail("收据中的记录不是明账记录", "the receipt's record is not a Mingzhang record");
    }
    if (!Array.isArray(receipt.inclusion_proof) || receipt.inclusion_proof.length > PROOF_LEN_MAX) {
      fail("包含证明缺失或过长", "the inclusion proof is missing or too long");
    }
    var proof = receipt.inclusion_proof.map(function (item) { return hashFromText(item, "inclusion_proof"); });
    var checkpoint = parseCheckpoint(receipt.checkpoint);
    if (checkpoint.size !== treeSize) fail("检查点的树大小与收据不符", "the checkpoint's tree size differs from the receipt's");
    var root = await rootFromInclusionProof(seq, treeSize, await leafHash(record), proof);
    if (!equal(root, checkpoint.root)) fail("包含证明得出的树根与检查点不符", "the inclusion proof leads to a different root than the checkpoint");
    var key = parseKey(config.key);
    var signature = key === null ? null : await checkSignature(checkpoint, key);
    if (signature === false) fail("检查点签名无效", "the checkpoint's signature is not valid");
    return { seq: seq, size: treeSize, signature: signature, keyKnown: key !== null, record: record };
  }

  function show(outcome, message) {
    var result = document.getElementById("receipt-result");
    result.setAttribute("data-outcome", outcome);
    result.textContent = message;
  }

  function showRecord(text) {
    var summary = document.getElementById("receipt-record-summary");
    if (summary) summary.textContent = text;
  }

  async function check() {
    show("checking", say("正在核验……", "Checking…"));
    showRecord("");
    try {
      var outcome = await checkReceipt(document.getElementById("receipt-input").value);
      showRecord(describeRecord(outcome.record));
      if (outcome.signature === true) {
        show("verified", say(
          "核验通过：记录 #" + outcome.seq + " 包含在树大小为 " + outcome.size + " 的签名检查点中，签名有效。",
          "Verified: record #" + outcome.seq + " is included in the signed checkpoint of tree size " + outcome.size + ", and the signature is valid."));
      } else {
        show("inclusion-only", say(
          "包含证明核验通过（记录 #" + outcome.seq + "，树大小 " + outcome.size + "）；" +
            (outcome.keyKnown ? "此浏览器不支持 Ed25519，签名未检查。" : "本站未公布公钥，签名未检查。"),
          "Inclusion proof verified (record #" + outcome.seq + ", tree size " + outcome.size + "); " +
            (outcome.keyKnown ? "this browser cannot check Ed25519, so the signature was not checked." : "no public key is published, so the signature was not checked.")));
      }
    } catch (error) {
      show("failed", say("核验失败：", "Verification failed: ") + (error.userFacing ? error.message : String(error)));
    }
  }

  document.getElementById("receipt-check").addEventListener("click", check);
  // A receipt link's page holds its receipt: checked as soon as it opens.
  if (config.check_on_load === true) check();
})();
