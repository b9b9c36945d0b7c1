// The station page's script (served as /station.js), plain ES2020 for any recent browser.
// It measures between the browser and the appliance: idle latency (HTTP probes on a connection
// of their own), then download and upload over several parallel connections, probing latency
// meanwhile; a probe unanswered within 2 s counts as lost. Download is timed here as the octets
// arrive; upload is timed by the appliance as they arrive there. The first OMIT_MS of each
// transfer are left out of its rate. Written without template literals: it is one itself.

export const STATION_SCRIPT = String.raw`'use strict';
(function () {
  var lang = document.documentElement.lang === 'en' ? 'en' : 'fr';
  var T = {
    fr: { idle: 'Latence au repos…', down: 'Descente (du boîtier vers ce poste)…', up: 'Montée (de ce poste vers le boîtier)…',
      link: "Mesure du lien du boîtier vers l'hôpital (environ 90 s)…", ended: 'La session est terminée.',
      internal: 'Ce poste ↔ boîtier', hospital: "Boîtier ↔ hôpital", e2e: 'De bout en bout', seg: 'Segment', dn: 'Descente', upc: 'Montée',
      rtt: 'RTT au repos', inc: 'Hausse sous charge', loss: 'Pertes', pass: 'CONFORME', fail: 'NON CONFORME', incomplete: 'INCOMPLET',
      done: 'Session terminée : le rapport est écrit sur le boîtier.' },
    en: { idle: 'Idle latency…', down: 'Download (appliance to this station)…', up: 'Upload (this station to the appliance)…',
      link: "Measuring the appliance's link to the hospital (about 90 s)…", ended: 'The session has ended.',
      internal: 'This station ↔ appliance', hospital: 'Appliance ↔ hospital', e2e: 'End to end', seg: 'Segment', dn: 'Down', upc: 'Up',
      rtt: 'Idle RTT', inc: 'Increase under load', loss: 'Loss', pass: 'PASS', fail: 'FAIL', incomplete: 'INCOMPLETE',
      done: 'Session ended: the report is written on the appliance.' }
  }[lang];
  var PROBE_EVERY_MS = 100, PROBE_TIMEOUT_MS = 2000, IDLE_MS = 3000, PHASE_MS = 10000;
  var session = null;
  var $ = function (id) { return document.getElementById(id); };
  function show(id, on) { $(id).hidden = !on; }
  function say(text) { $('message').textContent = text || ''; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function api(path, options) {
    return fetch(path, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, options || {})).then(function (res) {
      if (res.ok) return res.status === 204 ? null : res.json();
      return res.json().catch(function () { return {}; }).then(function (body) {
        var err = new Error((body.error && body.error.reason) || ('HTTP ' + res.status));
        err.status = res.status;
        throw err;
      });
    });
  }
  function postJson(path, body) {
    return api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  // One probe at a time, every PROBE_EVERY_MS, until stop() is called.
  function prober() {
    var rtts = [], sent = 0, lost = 0, running = true;
    var done = (async function () {
      while (running) {
        var t0 = performance.now();
        var ctl = new AbortController();
        var timer = setTimeout(function () { ctl.abort(); }, PROBE_TIMEOUT_MS);
        sent++;
        try {
          await api('/api/ping', { signal: ctl.signal });
          rtts.push(performance.now() - t0);
        } catch (e) {
          if (e.status === 401 || e.status === 410) throw e;
          lost++;
        } finally { clearTimeout(timer); }
        var wait = PROBE_EVERY_MS - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
      }
    })();
    return { rtts: rtts, stop: function () { running = false; return done; }, counts: function () { return { sent: sent, lost: lost }; } };
  }

  function progress(text, start, ms) {
    $('phase').textContent = text;
    var bar = $('bar');
    var timer = setInterval(function () { bar.value = Math.min(100, (100 * (performance.now() - start)) / ms); }, 200);
    return function () { clearInterval(timer); bar.value = 100; };
  }

  async function download() {
    var ctl = new AbortController(), start = performance.now(), counted = 0, from = start + session.omit_ms;
    var done = progress(T.down, start, PHASE_MS);
    var streams = [];
    for (var i = 0; i < session.streams; i++) {
      streams.push(fetch('/api/download?bytes=1073741824', { cache: 'no-store', signal: ctl.signal }).then(async function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        var reader = res.body.getReader();
        for (;;) {
          var r = await reader.read();
          if (r.done) return;
          if (performance.now() >= from) counted += r.value.length;
        }
      }).catch(function () { /* aborted at the end of the phase */ }));
    }
    await sleep(PHASE_MS);
    var end = performance.now();
    var bytes = counted;
    ctl.abort();
    await Promise.all(streams);
    done();
    return { bytes: bytes, seconds: (end - from) / 1000 };
  }

  async function upload() {
    var chunk = new Uint8Array(1 << 20);
    for (var o = 0; o < chunk.length; o += 65536) crypto.getRandomValues(chunk.subarray(o, o + 65536));
    var parts = [];
    for (var k = 0; k < 8; k++) parts.push(chunk);
    var blob = new Blob(parts, { type: 'application/octet-stream' });
    await postJson('/api/upload/start', {});
    var ctl = new AbortController(), start = performance.now(), running = true;
    var done = progress(T.up, start, PHASE_MS);
    var streams = [];
    for (var i = 0; i < session.streams; i++) {
      streams.push((async function () {
        while (running) {
          try { await fetch('/api/upload', { method: 'POST', body: blob, headers: { 'content-type': 'application/octet-stream' }, signal: ctl.signal, cache: 'no-store' }); }
          catch (e) { return; }
        }
      })());
    }
    await sleep(PHASE_MS);
    running = false;
    var figure = await postJson('/api/upload/stop', {});
    ctl.abort();
    await Promise.all(streams);
    done();
    return figure;
  }

  function cell(text, numeric) { var td = document.createElement('td'); td.textContent = text; if (numeric) td.className = 'n'; return td; }
  // as the printed report rounds and writes numbers
  function fmt(x, digits) {
    if (x === null || x === undefined) return '—';
    return new Intl.NumberFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(x);
  }
  function incOf(s) {
    if (!s) return null;
    var v = s.loaded_rtt_increase_ms;
    if (typeof v === 'number' || v === null) return v;
    var xs = [v.up, v.down].filter(function (x) { return x !== null; });
    return xs.length ? Math.max.apply(null, xs) : null;
  }

  function render(place) {
    var box = $('result');
    box.replaceChildren();
    var h = document.createElement('h2'); h.textContent = place.name; box.appendChild(h);
    var v = document.createElement('p'); v.className = 'verdict ' + place.verdict; v.id = 'verdict'; v.dataset.limiting = place.limiting ? place.limiting.segment : '';
    v.textContent = T[place.verdict]; box.appendChild(v);
    var table = document.createElement('table'); table.id = 'segments';
    var head = document.createElement('tr');
    [T.seg, T.dn + ' (Mbit/s)', T.upc + ' (Mbit/s)', T.rtt + ' (ms)', T.inc + ' (ms)', T.loss + ' (%)'].forEach(function (x) { var th = document.createElement('th'); th.textContent = x; head.appendChild(th); });
    table.appendChild(head);
    [[T.internal, place.internal], [T.hospital, place.hospital_link], [T.e2e, place.end_to_end]].forEach(function (row) {
      var tr = document.createElement('tr'), s = row[1];
      tr.appendChild(cell(row[0]));
      tr.appendChild(cell(s ? fmt(s.down_mbps, 1) : '—', true));
      tr.appendChild(cell(s ? fmt(s.up_mbps, 1) : '—', true));
      tr.appendChild(cell(s ? fmt(s.rtt_ms, 1) : '—', true));
      tr.appendChild(cell(s ? fmt(incOf(s), 1) : '—', true));
      tr.appendChild(cell(s ? fmt(s.loss_pct, 2) : '—', true));
      table.appendChild(tr);
    });
    box.appendChild(table);
    var p = document.createElement('p'); p.id = 'said'; p.textContent = place.said ? place.said[lang] : ''; box.appendChild(p);
    show('result', true);
  }

  async function measure(placeName) {
    say('');
    show('place-form', false);
    show('after', false);
    show('result', false);
    show('progress', true);
    var idleStart = performance.now();
    var doneIdle = progress(T.idle, idleStart, IDLE_MS);
    var idle = prober();
    await sleep(IDLE_MS);
    await idle.stop();
    doneIdle();
    var underDown = prober();
    var down = await download();
    await underDown.stop();
    var underUp = prober();
    var up = await upload();
    await underUp.stop();
    var counts = [idle, underDown, underUp].map(function (p) { return p.counts(); });
    var submitted = await postJson('/api/places', {
      place: placeName,
      idle_rtt_ms: idle.rtts,
      down: down,
      loaded_rtt_ms: { down: underDown.rtts, up: underUp.rtts },
      probes: { sent: counts.reduce(function (a, c) { return a + c.sent; }, 0), lost: counts.reduce(function (a, c) { return a + c.lost; }, 0) }
    });
    var linkStart = performance.now();
    var doneLink = progress(T.link, linkStart, 90000);
    var place;
    for (;;) {
      await sleep(1000);
      place = await api('/api/places/' + submitted.id);
      if (place.status !== 'measuring') break;
    }
    doneLink();
    show('progress', false);
    render(place);
    show('after', true);
    void up;
  }

  function failed(e) {
    show('progress', false);
    say(e.message);
    if (e.status === 410) { ['code-form', 'place-form', 'after'].forEach(function (id) { show(id, false); }); say(T.ended + ' ' + e.message); }
    else if (e.status === 401) { show('code-form', true); show('place-form', false); }
    else { show('place-form', true); }
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('code-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      postJson('/api/session', { code: $('code').value }).then(function (s) {
        session = s;
        say('');
        show('code-form', false);
        show('place-form', true);
        $('place').focus();
      }, failed);
    });
    $('place-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      measure($('place').value).catch(failed);
    });
    $('again').addEventListener('click', function () {
      show('after', false); show('result', false); $('place').value = ''; show('place-form', true); $('place').focus();
    });
    $('finish').addEventListener('click', function () {
      postJson('/api/finish', {}).then(function () {
        ['place-form', 'after'].forEach(function (id) { show(id, false); });
        say('');
        $('phase').textContent = '';
        var p = document.createElement('p'); p.id = 'finished'; p.textContent = T.done; $('result').appendChild(p);
      }, failed);
    });
  });
})();
`;
