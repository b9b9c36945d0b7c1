import t from 'tap';
import { Duplex, PassThrough } from 'node:stream';
import { RouterSession, login } from '../../src/qos/routeros/session.js';
import { attributesOf, encodeLength, encodeSentence, SentenceDecoder } from '../../src/qos/routeros/words.js';
import { UsmpError } from '../../src/errors.js';

// The RouterOS API wire format [help.mikrotik.com "API" §Protocol], and exchanges as
// published in luqasz/librouteros docs/api_analysis.rst and pear2/Net_RouterOS PR #80.

t.test('length prefixes, one per width of the table', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'],
    [0x7f, '7f'],
    [0x80, '8080'],
    [0x3fff, 'bfff'],
    [0x4000, 'c04000'],
    [0x1fffff, 'dfffff'],
    [0x200000, 'e0200000'],
    [0xfffffff, 'efffffff'],
    [0x10000000, 'f010000000'],
  ];
  for (const [length, hex] of cases) t.equal(encodeLength(length).toString('hex'), hex, `length ${length}`);
});

t.test('length vectors of an independent client (jda/routeros-api-go mtbyteproto_test.go), both ways', async (t) => {
  const vectors: Array<[number, string]> = [
    [0x01, '01'],
    [0x87, '8087'],
    [0x4321, 'c04321'],
    [0x2acdef, 'e02acdef'],
    [0x10000080, 'f010000080'],
  ];
  for (const [length, hex] of vectors) {
    t.equal(encodeLength(length).toString('hex'), hex, `encode ${length.toString(16)}`);
    const decoder = new SentenceDecoder({ maxWordBytes: 0x20000000, maxSentenceBytes: 0x20000000 });
    if (length > 0x10000) {
      t.same(decoder.push(Buffer.from(hex, 'hex')), [], `decode ${length.toString(16)}: a complete header, waiting for the word`);
      continue;
    }
    const [event] = decoder.push(Buffer.concat([Buffer.from(hex, 'hex'), Buffer.alloc(length, 0x61), Buffer.from([0])]));
    t.equal((event as { sentence: string[] }).sentence[0]!.length, length, `decode ${length.toString(16)}`);
  }
});

t.test('a reply word =key without a value is the property with an empty value (go-routeros proto/reader.go)', async (t) => {
  t.same(attributesOf(['!re', '=comment', '=name=x=y', '=.id=*1', '=']), { comment: '', name: 'x=y', '.id': '*1' });
});

t.test("text outside ASCII is refused, never cut (Node's latin1 sends \u20ac as 0xAC)", async (t) => {
  t.equal(encodeSentence(['/x', '=comment=plain']).includes(0xac), false);
  for (const word of ['=comment=prix 5€', '=name=Łódź', '/ip/address/print\u00e9']) {
    t.throws(() => encodeSentence([word]), { code: 'USMP_E_ROUTER_TEXT' }, JSON.stringify(word));
  }
  t.throws(() => encodeSentence(['/login', '=password=sécret']), { message: /the attribute password holds a character outside ASCII/ });
  t.notMatch(
    (() => {
      try {
        encodeSentence(['=password=sécret']);
        return '';
      } catch (e) {
        return String(e);
      }
    })(),
    /sécret/,
    'the value is never in the message',
  );
});

t.test('decoding survives any split and ignores empty sentences', async (t) => {
  const long = 'x'.repeat(0x4001);
  const bytes = Buffer.concat([encodeSentence(['!re', `=comment=${long}`, '.tag=7']), Buffer.from([0]), encodeSentence(['!done', '.tag=7'])]);
  for (const step of [1, 2, 3, 7, 1000, bytes.length]) {
    const decoder = new SentenceDecoder();
    const sentences: string[][] = [];
    for (let i = 0; i < bytes.length; i += step) {
      for (const e of decoder.push(bytes.subarray(i, i + step))) if ('sentence' in e) sentences.push(e.sentence);
    }
    t.same(
      sentences,
      [
        ['!re', `=comment=${long}`, '.tag=7'],
        ['!done', '.tag=7'],
      ],
      `chunks of ${step} bytes`,
    );
  }
  t.match(new SentenceDecoder().push(Buffer.from([0xf8])), [{ error: /control byte 0xf8/ }], 'a reserved control byte is an error value, not a throw');
});

/** A session whose router side is scripted: each sentence we send gets the listed replies. */
function scripted(replies: (words: string[]) => string[][]): { session: RouterSession; sent: string[][] } {
  const toRouter = new PassThrough();
  const toClient = new PassThrough();
  const socket = Duplex.from({ readable: toClient, writable: toRouter });
  const sent: string[][] = [];
  const decoder = new SentenceDecoder();
  toRouter.on('data', (chunk: Buffer) => {
    for (const e of decoder.push(chunk)) {
      if (!('sentence' in e)) continue;
      sent.push(e.sentence);
      const tag = e.sentence.find((w) => w.startsWith('.tag='));
      for (const reply of replies(e.sentence)) toClient.write(encodeSentence(reply[0] === '!fatal' ? reply : [...reply, ...(tag ? [tag] : [])]));
    }
  });
  return { session: new RouterSession(socket, 500), sent };
}

t.test('documented exchanges', async (t) => {
  const { session, sent } = scripted((words) => {
    switch (words[0]) {
      case '/login':
        return words.includes('=password=good') ? [['!done']] : [['!trap', '=message=cannot log in'], ['!done']];
      case '/ip/service/print':
        return Array.from({ length: 7 }, () => ['!re']); // seven empty !re (api_analysis.rst)
      case '/interface/print':
        return [['!empty'], ['!done']]; // 7.18 (Net_RouterOS #80)
      case '/ip/address/add':
        return [['!done', '=ret=*3']];
      case '/quit':
        return [['!fatal', 'session terminated on request']];
      default:
        return [['!trap', '=category=0', '=message=no such command prefix'], ['!done']];
    }
  });
  await t.rejects(login(session, 'admin', 'bad'), { code: 'USMP_E_ROUTER_LOGIN' }, 'a failed login (!trap then !done)');
  await login(session, 'admin', 'good');
  t.match(
    sent.find((s) => s.includes('=password=good')),
    ['/login', '=name=admin', '=password=good', /^\.tag=/],
    'plain login (RouterOS ≥ 6.43)',
  );
  const seven = session.run('/ip/service/print', { '.proplist': 'comment' });
  await t.rejects(seven, { code: 'USMP_E_ROUTER_TIMEOUT' }, 'seven !re without !done: the deadline ends it');
  t.ok(session.closed, 'a timed-out session is closed, not reused');
});

t.test('!empty, =ret=, traps with categories, !fatal', async (t) => {
  const { session } = scripted((words) => {
    switch (words[0]) {
      case '/interface/print':
        return [['!empty'], ['!done']];
      case '/ip/address/add':
        return [['!done', '=ret=*3']];
      case '/quit':
        return [['!fatal', 'session terminated on request']];
      default:
        return [['!trap', '=category=0', '=message=no such command prefix'], ['!done']];
    }
  });
  t.same(await session.run('/interface/print'), [], '!empty then !done is an empty result');
  t.same(await session.runWithReturn('/ip/address/add', { address: '198.18.0.1/24', interface: 'ether1' }), { items: [], ret: '*3' }, 'the new .id from =ret=');
  const trap = await session.run('/nothing').catch((e: unknown) => e as UsmpError);
  t.match(trap, { code: 'USMP_E_ROUTER_TRAP', details: { category: '0', message: 'no such command prefix' } }, 'one error for !trap + !done');
  await t.rejects(session.run('/quit'), { code: 'USMP_E_ROUTER_CLOSED', message: /session terminated on request/ }, '!fatal ends the session');
  await t.rejects(session.run('/interface/print'), { code: 'USMP_E_ROUTER_CLOSED' }, 'later commands fail at once');
});

t.test('replies for unknown tags and unknown reply words', async (t) => {
  const { session } = scripted((words) => (words[0] === '/a' ? [['!re', '=x=1', '.tag=999'], ['!done']] : [['!weird']]));
  t.same(await session.run('/a'), [], 'a reply for a tag nobody waits for is ignored (node-routeros throws UNREGISTEREDTAG)');
  await t.rejects(session.run('/b'), { code: 'USMP_E_ROUTER_PROTOCOL' }, 'an unknown reply word is a protocol error (node-routeros throws UNKNOWNREPLY)');
});

t.test('the decoder bounds what it holds: an announced giant word or an endless sentence is an error at once', async (t) => {
  const limits = { maxWordBytes: 1024, maxSentenceBytes: 4096 };
  // a word announcing 16 MiB (0xf0 + 4 octets, the longest form): refused from its header
  const giant = new SentenceDecoder(limits).push(Buffer.concat([Buffer.from([0xf0]), Buffer.from([0x01, 0x00, 0x00, 0x00])]));
  t.match(giant, [{ error: /a word of 16777216 octets announced, over the 1024-octet bound/ }]);
  // words under the word bound that never end their sentence: refused at the sentence bound
  const decoder = new SentenceDecoder(limits);
  const word = encodeSentence(['=x=' + 'a'.repeat(1000)]).subarray(0, -1); // the word without the sentence's end
  const events = [];
  for (let i = 0; i < 10; i++) events.push(...decoder.push(word));
  t.match(events, [{ error: /a sentence over the 4096-octet bound/ }], 'one error, after about four words');
  t.same(decoder.push(encodeSentence(['!done'])), [], 'a broken decoder stays broken');
  // the defaults take what a router sends
  const big = new SentenceDecoder().push(encodeSentence(['!re', `=source=${'x'.repeat(200_000)}`]));
  t.equal((big[0] as { sentence: string[] }).sentence[1]!.length, 200_008, 'a 200 kB script source passes the defaults');
});
