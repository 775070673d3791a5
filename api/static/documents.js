// 明账: checks each document a page links against the SHA-256 the ledger
// recorded for it (docs/documents.md). The bytes are fetched afresh and hashed
// here, in the reader's browser, with WebCrypto: the server is not trusted to
// say it serves the document the log names.
(function () {
  'use strict';

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) {
      return byte.toString(16).padStart(2, '0');
    }).join('');
  }

  async function check(element) {
    var expected = element.dataset.sha256;
    try {
      if (!(window.crypto && window.crypto.subtle)) {
        throw new Error('WebCrypto is not available');
      }
      var response = await fetch(element.dataset.documentCheck, { cache: 'no-store', credentials: 'omit' });
      if (!response.ok) {
        throw new Error('HTTP ' + response.status);
      }
      var actual = hex(await window.crypto.subtle.digest('SHA-256', await response.arrayBuffer()));
      if (actual === expected) {
        element.dataset.state = 'verified';
        element.textContent = element.dataset.verifiedText;
      } else {
        element.dataset.state = 'mismatched';
        element.textContent = element.dataset.mismatchedText + ' ' + actual;
      }
    } catch (error) {
      element.dataset.state = 'unavailable';
      element.textContent = element.dataset.unavailableText;
    }
  }

  document.querySelectorAll('[data-document-check]').forEach(check);
})();
