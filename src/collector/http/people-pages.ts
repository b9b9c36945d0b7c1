import { escapeHtml as e, htmlPage } from '../../report/render/html-page.js';
import type { Lang } from '../../report/render/i18n.js';
import type { ApiTokenInfo } from '../auth/access-store.js';
import { formatRole, type ReaderRole } from '../auth/roles.js';

// The pages of signing in and of one's account. Plain HTML forms, no script; every form that
// changes something carries the CSRF token.

const TEXT = {
  fr: {
    sign_in: 'Connexion',
    user: 'Identifiant',
    password: 'Mot de passe',
    submit: 'Se connecter',
    sso: 'Se connecter avec le compte du ministère',
    sign_out: 'Se déconnecter',
    account: 'Mon compte',
    roles: 'Rôles',
    tokens: 'Jetons d’accès (tableurs, Grafana)',
    label: 'Nom du jeton',
    create: 'Créer',
    revoke: 'Révoquer',
    created: 'Créé',
    last_used: 'Dernier usage',
    never: 'jamais',
    shown_once: 'Copiez ce jeton maintenant : il ne sera plus jamais affiché.',
    bearer_hint: 'À envoyer dans l’en-tête Authorization: Bearer … vers /export/… et /api/v1/…',
    back: 'Tableau de bord',
  },
  en: {
    sign_in: 'Sign in',
    user: 'User name',
    password: 'Password',
    submit: 'Sign in',
    sso: 'Sign in with the ministry account',
    sign_out: 'Sign out',
    account: 'My account',
    roles: 'Roles',
    tokens: 'Access tokens (spreadsheets, Grafana)',
    label: 'Token name',
    create: 'Create',
    revoke: 'Revoke',
    created: 'Created',
    last_used: 'Last used',
    never: 'never',
    shown_once: 'Copy this token now: it will never be shown again.',
    bearer_hint: 'Send it as Authorization: Bearer … to /export/… and /api/v1/…',
    back: 'Dashboard',
  },
} as const;

export function loginPage(o: { lang: Lang; csrf: string; next: string; error?: { code: string; message: string } | undefined; oidc: boolean }): string {
  const t = TEXT[o.lang];
  const body = `<header><h1>${e(t.sign_in)}</h1></header>
${o.error ? `<p class="verdict v-fail" data-testid="sign-in-error" data-code="${e(o.error.code)}">${e(o.error.message)}</p>` : ''}
<form method="post" action="/login" data-testid="login-form">
<input type="hidden" name="_csrf" value="${e(o.csrf)}"><input type="hidden" name="next" value="${e(o.next)}"><input type="hidden" name="lang" value="${o.lang}">
<p><label>${e(t.user)}<br><input name="username" autocomplete="username" required maxlength="64"></label></p>
<p><label>${e(t.password)}<br><input name="password" type="password" autocomplete="current-password" required maxlength="256"></label></p>
<p><button type="submit">${e(t.submit)}</button></p>
</form>
${o.oidc ? `<p><a href="/auth/oidc/start" data-testid="sso">${e(t.sso)}</a></p>` : ''}`;
  return htmlPage({ lang: o.lang, title: t.sign_in, body });
}

/** The bar at the top of every page for a signed-in reader. */
export function accountBar(o: { lang: Lang; user: string; csrf: string }): string {
  const t = TEXT[o.lang];
  return `<nav class="muted" data-testid="account-bar"><span data-testid="user">${e(o.user)}</span> · <a href="/account?lang=${o.lang}">${e(t.account)}</a> · <form method="post" action="/logout" style="display:inline"><input type="hidden" name="_csrf" value="${e(o.csrf)}"><button type="submit" data-testid="sign-out">${e(t.sign_out)}</button></form></nav>`;
}

/** The page with the bar put first in its body. */
export function withAccountBar(html: string, bar: string): string {
  return html.replace('<body>\n', `<body>\n${bar}\n`);
}

export function accountPage(o: {
  lang: Lang;
  user: string;
  roles: readonly ReaderRole[];
  csrf: string;
  tokens: ApiTokenInfo[];
  newToken?: string | undefined;
  tokensAllowed: boolean;
}): string {
  const t = TEXT[o.lang];
  const rows = o.tokens.map(
    (k) =>
      `<tr data-token="${e(k.id)}"><td>${e(k.label)}</td><td>${e(k.created_at.slice(0, 16))}</td><td>${e(k.last_used_at?.slice(0, 16) ?? t.never)}</td><td><form method="post" action="/account/tokens/${e(k.id)}/revoke"><input type="hidden" name="_csrf" value="${e(o.csrf)}"><button type="submit">${e(t.revoke)}</button></form></td></tr>`,
  );
  const body = `<header><h1>${e(t.account)}: ${e(o.user)}</h1><nav class="muted"><a href="/?lang=${o.lang}">${e(t.back)}</a></nav></header>
<p>${e(t.roles)}: <span data-testid="roles">${e(o.roles.map(formatRole).join(', '))}</span></p>
${o.newToken ? `<p class="verdict v-pass">${e(t.shown_once)}</p><p><code data-testid="new-token">${e(o.newToken)}</code></p>` : ''}
${
  o.tokensAllowed
    ? `<h2>${e(t.tokens)}</h2><p class="muted">${e(t.bearer_hint)}</p>
<table data-testid="tokens"><thead><tr><th>${e(t.label)}</th><th>${e(t.created)}</th><th>${e(t.last_used)}</th><th></th></tr></thead><tbody>${rows.join('\n')}</tbody></table>
<form method="post" action="/account/tokens"><input type="hidden" name="_csrf" value="${e(o.csrf)}"><label>${e(t.label)} <input name="label" required maxlength="64"></label> <button type="submit">${e(t.create)}</button></form>`
    : ''
}`;
  return htmlPage({ lang: o.lang, title: t.account, body });
}
