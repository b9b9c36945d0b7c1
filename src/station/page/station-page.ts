import { escapeHtml } from '../../report/render/html-page.js';

// The station test page: markup only. Its script and style come from this appliance alone
// (the CSP below forbids anything else, inline code included), so what runs on the cart is
// what the appliance ships.

export const STATION_PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TEXT = {
  fr: {
    title: 'Test du poste de télémédecine',
    intro: "Ce test mesure le réseau entre ce poste et le boîtier de l'unité, puis le lien du boîtier vers l'hôpital.",
    code: 'Code de la session (affiché sur le boîtier)',
    enter: 'Ouvrir la session',
    place: 'Lieu testé (salle, prise ou borne Wi-Fi)',
    start: 'Lancer le test',
    again: 'Tester un autre lieu',
    finish: 'Terminer la session',
  },
  en: {
    title: 'Telemedicine station test',
    intro: "This test measures the network between this station and the unit's appliance, then the appliance's link to the hospital.",
    code: 'Session code (shown on the appliance)',
    enter: 'Open the session',
    place: 'Place tested (room, outlet or access point)',
    start: 'Start the test',
    again: 'Test another place',
    finish: 'End the session',
  },
} as const;

export function stationPageHtml(lang: 'fr' | 'en', siteLabel: string): string {
  const t = TEXT[lang];
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(t.title)}</title>
<link rel="stylesheet" href="/station.css">
<script src="/station.js" defer></script>
</head>
<body>
<main>
<h1>${escapeHtml(t.title)}</h1>
<p class="site">${escapeHtml(siteLabel)}</p>
<p>${escapeHtml(t.intro)}</p>
<form id="code-form" autocomplete="off">
<label for="code">${escapeHtml(t.code)}</label>
<input id="code" name="code" inputmode="numeric" maxlength="6" required>
<button type="submit">${escapeHtml(t.enter)}</button>
</form>
<form id="place-form" hidden autocomplete="off">
<label for="place">${escapeHtml(t.place)}</label>
<input id="place" name="place" maxlength="80" required>
<button type="submit">${escapeHtml(t.start)}</button>
</form>
<section id="progress" hidden><p id="phase"></p><progress id="bar" max="100" value="0"></progress></section>
<section id="result" hidden></section>
<p id="message" role="status"></p>
<div id="after" hidden><button type="button" id="again">${escapeHtml(t.again)}</button> <button type="button" id="finish">${escapeHtml(t.finish)}</button></div>
</main>
</body>
</html>
`;
}
