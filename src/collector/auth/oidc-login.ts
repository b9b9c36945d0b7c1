import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { UsmpError } from '../../errors.js';
import { rolesOfGroups, type ReaderRole } from './roles.js';

// Sign-in through the ministries' single sign-on: OpenID Connect authorization code flow with
// PKCE (RFC 7636), state and nonce checked (OpenID Connect Core 1.0 §3.1.2.1, §3.1.3.7), by
// openid-client. The provider's metadata and keys come from its discovery document. What a browser carries between the two legs is a random id in a cookie; the
// state, nonce and verifier stay in this process, for ten minutes at most.

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scopes: string;
  groupsClaim: string;
  roleMap: Readonly<Record<string, string>>;
}

interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  startedMs: number;
}

export interface OidcIdentity {
  user: string;
  roles: ReaderRole[];
}

const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 10_000;

export class OidcLogin {
  readonly #settings: OidcSettings;
  readonly #pending = new Map<string, PendingSignIn>();
  #configuration: Promise<oidc.Configuration> | undefined;

  constructor(settings: OidcSettings) {
    this.#settings = settings;
  }

  get redirectUri(): string {
    return this.#settings.redirectUri;
  }

  get pendingTtlMs(): number {
    return PENDING_TTL_MS;
  }

  async #config(): Promise<oidc.Configuration> {
    // ID token signatures checked against the provider's published keys too, though TLS to the
    // token endpoint already vouches for the issuer (OpenID Connect Core 1.0 §3.1.3.7 point 6):
    // the key set is fetched again when a token names a key it does not hold (a rotation)
    this.#configuration ??= oidc
      .discovery(new URL(this.#settings.issuer), this.#settings.clientId, this.#settings.clientSecret, undefined, {
        execute: [oidc.enableNonRepudiationChecks],
      })
      .catch((err: unknown) => {
        // try discovery again at the next sign-in
        this.#configuration = undefined;
        throw new UsmpError('USMP_E_SIGN_IN', `the OpenID provider ${this.#settings.issuer} cannot be reached or described: ${(err as Error).message}`, {
          cause: err,
        });
      });
    return this.#configuration;
  }

  /** Where to send the browser, and the id of this sign-in for its cookie. */
  async start(nowMs: number): Promise<{ url: URL; pendingId: string }> {
    const config = await this.#config();
    this.#prune(nowMs);
    const pending: PendingSignIn = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), startedMs: nowMs };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.#settings.redirectUri,
      scope: this.#settings.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    const pendingId = randomBytes(32).toString('base64url');
    this.#pending.set(pendingId, pending);
    if (this.#pending.size > MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
    return { url, pendingId };
  }

  /** The provider sent the browser back: check everything, and say who it is and their roles. */
  async finish(callbackUrl: URL, pendingId: string | undefined, nowMs: number): Promise<OidcIdentity> {
    const pending = pendingId === undefined ? undefined : this.#pending.get(pendingId);
    if (pendingId !== undefined) this.#pending.delete(pendingId);
    if (!pending || nowMs - pending.startedMs > PENDING_TTL_MS)
      throw new UsmpError('USMP_E_SIGN_IN', 'this sign-in was not started here or took more than 10 minutes: sign in again');
    const config = await this.#config();
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw new UsmpError('USMP_E_SIGN_IN', `the OpenID provider's answer was refused: ${(err as Error).message}`, { cause: err });
    }
    const claims = tokens.claims();
    if (!claims) throw new UsmpError('USMP_E_SIGN_IN', 'the OpenID provider sent no ID token');
    const name =
      typeof claims['preferred_username'] === 'string' ? claims['preferred_username'] : typeof claims['email'] === 'string' ? claims['email'] : claims.sub;
    return { user: `oidc:${name}`, roles: rolesOfGroups(claims[this.#settings.groupsClaim], this.#settings.roleMap) };
  }

  #prune(nowMs: number): void {
    for (const [id, p] of this.#pending) {
      if (nowMs - p.startedMs <= PENDING_TTL_MS) break;
      this.#pending.delete(id);
    }
  }
}
