// The one configuration schema. Every key has a doc line, a format and a default; the
// environment variable of a key is derived from its path (see envNameFor) so that the
// README's table and the loader cannot drift apart.

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const schemaDefinition = {
  site: {
    establishment: { doc: 'Prison establishment name', format: String, default: '' },
    establishment_code: { doc: 'Establishment code in the national follow-up table', format: String, default: '' },
    usmp: { doc: 'Name of the prison health unit (USMP)', format: String, default: '' },
    region: { doc: 'Interregional directorate or region, for the national filters', format: String, default: '' },
    hospital: { doc: 'Attached hospital (CH de rattachement)', format: String, default: '' },
    hospital_used: { doc: 'Hospital actually reached, when it is not the attached one (empty: the attached one)', format: String, default: '' },
    link_type: { doc: 'Type of the link to the hospital (e.g. "fibre FTTO 20 Mbit/s", "RIE", "VPN over ADSL")', format: String, default: '' },
    link_operator: { doc: 'Operator of the link', format: String, default: '' },
    cabling_date: { doc: 'Date the USMP was cabled (YYYY-MM-DD; empty: not yet)', format: 'optional-date', default: '' },
    connection_date: { doc: 'Date the USMP was connected to its hospital (YYYY-MM-DD; empty: not yet)', format: 'optional-date', default: '' },
    equipment: { doc: 'Telemedicine equipment on site (e.g. ["chariot", "ECG", "dermatoscope"])', format: 'string-list', default: [] as string[] },
    auditor: { doc: 'Auditor who runs qualifications on this appliance (name or organisation)', format: String, default: '' },
    appliance_id: { doc: 'Identifier of this appliance (defaults to the host name when empty)', format: String, default: '' },
  },
  report: {
    signing_key_file: {
      doc: "Ed25519 private key signing this appliance's reports (usmp-edge report keygen creates it; readable by the service only)",
      format: String,
      default: '/var/lib/usmp-edge/keys/report-signing.pem',
    },
    collector_url: {
      doc: "HTTPS address of the national collector's appliances' door (e.g. https://collecteur.example:8444); empty: reports are not uploaded",
      format: 'optional-http-url',
      default: '',
    },
    collector_ca_file: { doc: "CA certificate the collector's TLS certificate chains to (empty: the system's)", format: String, default: '' },
    outbox_dir: { doc: 'Reports waiting for the collector (they survive restarts and outages)', format: String, default: '/var/lib/usmp-edge/report-outbox' },
    expiry_days: { doc: 'A report the collector has not taken after this many days is set aside (outbox/expired) with a warning', format: 'nat', default: 30 },
    retry_min_s: { doc: 'First delay before retrying an upload (then decorrelated jitter)', format: 'positive-number', default: 5 },
    retry_max_s: { doc: 'Longest delay between upload attempts', format: 'positive-number', default: 3600 },
  },
  telemetry: {
    heartbeat_minutes: {
      doc: 'Minutes between heartbeats to the national collector (version, uptime, link, outboxes, disk, clock); hourly summaries and alerts go too. 0: no telemetry. Needs report.collector_url and the appliance key',
      format: 'non-negative-number',
      default: 5,
    },
  },
  collector: {
    listen: {
      doc: "HOST:PORT of the collector's door for people (sign-in, dashboard, reports, exports, API); loopback unless you open it",
      format: 'host-port',
      default: '127.0.0.1:8443',
    },
    intake_listen: {
      doc: 'HOST:PORT of the door for appliances (POST of signed reports; report.collector_url points here); loopback unless you open it',
      format: 'host-port',
      default: '127.0.0.1:8444',
    },
    tls_cert_file: { doc: 'TLS certificate of the collector (PEM); required unless plain_http_behind_proxy', format: String, default: '' },
    tls_key_file: { doc: 'TLS private key of the collector (PEM)', format: String, default: '' },
    database: {
      doc: 'SQLite database of the collected reports, users and sessions (when collector.postgres.url is empty)',
      format: String,
      default: '/var/lib/usmp-edge-collector/reports.sqlite',
    },
    postgres: {
      url: {
        doc: 'PostgreSQL database instead of SQLite, as postgres://USER@HOST:PORT/DATABASE (a Unix socket: postgres://USER@localhost/DATABASE?host=/run/postgresql); no password here (password_file); several collectors may share it',
        format: 'optional-postgres-url',
        default: '',
      },
      password_file: {
        doc: 'File holding the PostgreSQL password (empty: none, e.g. peer authentication on a Unix socket)',
        format: 'secret-file',
        default: '',
      },
      ca_file: {
        doc: 'CA certificate of the PostgreSQL server: TLS to it, the certificate and host name checked (empty: no TLS, for a socket or loopback)',
        format: String,
        default: '',
      },
      pool_size: { doc: 'Connections this collector opens to PostgreSQL at most', format: 'positive-int', default: 10 },
    },
    appliances_file: {
      doc: 'Enrolled appliances and their public keys (usmp-edge collector enroll adds one)',
      format: String,
      default: '/etc/usmp-edge/collector/appliances.json',
    },
    plain_http_behind_proxy: {
      doc: 'Serve plain HTTP, for a TLS proxy in front on the same host; without it the collector refuses to start without TLS',
      format: Boolean,
      default: false,
    },
    max_report_kib: { doc: 'Largest report accepted', format: 'nat', default: 512 },
    max_connections: { doc: 'Open connections each door accepts at once; more are closed at once', format: 'nat', default: 512 },
    requests_per_minute: { doc: "Requests one address may make to the people's door per minute (429 past it)", format: 'nat', default: 600 },
    intake_requests_per_minute: { doc: 'Reports one address may post per minute (429 past it; an appliance retries later)', format: 'nat', default: 60 },
    session_idle_minutes: { doc: 'A session unused this long ends', format: 'nat', default: 30 },
    session_absolute_hours: { doc: 'A session ends this long after sign-in, used or not', format: 'nat', default: 12 },
    oidc: {
      issuer: {
        doc: 'OpenID Connect provider (its discovery document at ISSUER/.well-known/openid-configuration); empty: local accounts only',
        format: 'optional-http-url',
        default: '',
      },
      client_id: { doc: "This collector's client id at the provider", format: String, default: '' },
      client_secret_file: { doc: 'File holding the client secret', format: 'secret-file', default: '' },
      redirect_uri: { doc: 'https://<collector>/auth/oidc/callback as registered at the provider', format: 'optional-http-url', default: '' },
      scopes: { doc: 'Scopes asked for (openid is required)', format: String, default: 'openid profile email' },
      groups_claim: { doc: "ID token claim listing the user's groups", format: String, default: 'groups' },
      role_map: {
        doc: 'Group → role: {"GRP-USMP-NATIONAL": "national", "GRP-DISP-DIJON": "region:DISP Dijon", "GRP-0999001A": "site:0999001A"}; a group not listed gives nothing',
        format: 'role-map',
        default: {},
      },
    },
    silent_after_minutes: {
      doc: 'An appliance heard from (heartbeat, summary, alert) longer ago than this is flagged silent on the grid, logged and posted to silent_webhook_url; cleared when heard from again',
      format: 'positive-number',
      default: 30,
    },
    silent_webhook_url: { doc: 'Where the collector posts its silent/heard notices as JSON (empty: logged only)', format: 'optional-http-url', default: '' },
    silent_webhook_token_file: { doc: 'File holding a bearer token sent with those posts', format: 'secret-file', default: '' },
    silent_dead_letter_file: {
      doc: 'Notices the webhook would not take, one JSON line each',
      format: String,
      default: '/var/lib/usmp-edge-collector/silent-dead-letters.jsonl',
    },
    expiry_grace_days: {
      doc: "Reports signed before their key expired are still taken this long after (as long as the appliance's outbox keeps them: report.expiry_days)",
      format: 'nat',
      default: 30,
    },
  },
  log: {
    level: { doc: 'Log level', format: LOG_LEVELS, default: 'info' },
    pretty: { doc: 'Human-readable logs: auto (on a TTY), always, never', format: ['auto', 'always', 'never'] as const, default: 'auto' },
  },
  responder: {
    bind: { doc: 'Address the responder listens on', format: 'ip-address', default: '0.0.0.0' },
    stamp_port: { doc: 'UDP port of the STAMP session-reflector [RFC 8762 §4]', format: 'port', default: 862 },
    iperf_port: { doc: 'First TCP port of the iperf3 server pool', format: 'port', default: 5201 },
    iperf_pool_size: { doc: 'Number of iperf3 servers (concurrent auditors served)', format: 'nat', default: 4 },
    iperf_max_mbps: { doc: 'Each iperf3 server ends a test whose average rate exceeds this (0: no limit)', format: 'nat', default: 1000 },
    stamp_max_sessions: { doc: 'Most STAMP sessions tracked at once (stateful mode)', format: 'nat', default: 1024 },
    stamp_max_pps_per_peer: { doc: 'Most STAMP packets per second reflected to one peer address', format: 'nat', default: 1000 },
    stamp_mode: { doc: 'Reflector mode [RFC 8762 §4.3]', format: ['stateless', 'stateful'] as const, default: 'stateful' },
    stamp_max_pps_per_network: {
      doc: 'Most STAMP packets per second reflected to one source network (a /24 or a /64), all its addresses together',
      format: 'nat',
      default: 4000,
    },
    auth: {
      doc: 'required: only enrolled appliances are answered (STAMP authenticated mode, iperf3 credentials); both: STAMP also answers unauthenticated senders (other STAMP/TWAMP-Light peers), iperf3 still asks credentials; open: nobody is authenticated',
      format: ['required', 'both', 'open'] as const,
      default: 'required',
    },
    keys_file: {
      doc: "The enrolled appliances' STAMP keys and iperf3 password hashes (written by usmp-edge responder-keys enroll)",
      format: String,
      default: '/var/lib/usmp-edge-responder/appliances.json',
    },
    iperf_rsa_key_file: {
      doc: 'RSA private key the iperf3 servers decrypt credentials with (made at the first enrolment)',
      format: String,
      default: '/var/lib/usmp-edge-responder/iperf3-rsa.pem',
    },
    allow_from: { doc: 'Source prefixes the responder answers (e.g. ["198.18.0.0/15"]); empty: any', format: 'prefix-list', default: [] as string[] },
  },
  qualify: {
    target: { doc: 'Default responder to qualify against (host name or address)', format: 'host', default: '' },
    profile: { doc: 'Default telemedicine profile', format: String, default: 'teleconsultation-hd' },
    profiles_dir: { doc: 'Directory of site profiles (*.json), added to the built-in ones', format: String, default: '/etc/usmp-edge/profiles' },
    plan: { doc: 'Default test plan', format: ['quick', 'full'] as const, default: 'quick' },
    out_dir: { doc: 'Where reports are written', format: String, default: './reports' },
    lang: { doc: 'Report language', format: ['fr', 'en'] as const, default: 'fr' },
    responder_credentials_file: {
      doc: "This appliance's credentials at the responder (made there by usmp-edge responder-keys enroll): used by qualify, probe, monitoring and qos verify; empty: unauthenticated",
      format: 'secret-file',
      default: '',
    },
  },
  station: {
    listen_address: {
      doc: "Address of the station test page (usmp-edge qualify --station), the appliance's address on the unit's LAN; 0.0.0.0 listens on every interface",
      format: 'host',
      default: '0.0.0.0',
    },
    port: { doc: 'HTTPS port of the station test page; 0 takes a free one and prints it', format: 'port', default: 8443 },
    cert_file: {
      doc: "The station page's own TLS certificate (PEM); made at the first session (self-signed, its SHA-256 fingerprint printed to compare in the browser)",
      format: String,
      default: '/var/lib/usmp-edge/station-tls/cert.pem',
    },
    key_file: { doc: 'Private key of that certificate (PEM)', format: String, default: '/var/lib/usmp-edge/station-tls/key.pem' },
    session_minutes: { doc: 'A test session ends by itself after this many minutes (1..240)', format: 'nat', default: 60 },
    streams: {
      doc: 'Parallel TCP connections of the page in each direction (2..5: a browser opens 6 per server, one is left for latency probes)',
      format: 'nat',
      default: 4,
    },
  },
  load: {
    congestion_control: {
      doc: "TCP congestion control of every load the appliance generates (latency under load, qos verify's best effort, scheduled throughput tests), at both ends: cubic is what the unit's computers run; bbr shows what BBR senders would see",
      format: 'congestion-control',
      default: 'cubic',
    },
    streams: { doc: "TCP flows per direction in every load (as Flent's RRUL test loads)", format: 'flow-count', default: 4 },
  },
  deployment: {
    mode: {
      doc: "Where the appliance sits: one-armed (a LAN port; it forwards nothing: QoS on the site's MikroTik, calls seen through a mirror port), inline-bridge (a bump in the wire between the unit's switch and the site's router, no re-addressing; qos.linux.lan_interface and wan_interface are the bridge's two ports) or inline-router (the unit's gateway); docs/prison-it.md says how to cable each",
      format: ['one-armed', 'inline-bridge', 'inline-router'] as const,
      default: 'one-armed',
    },
  },
  qos: {
    backend: {
      doc: "Where the policy is enforced: linux (this appliance inline) or routeros (the site's MikroTik)",
      format: ['linux', 'routeros'] as const,
      default: 'linux',
    },
    up_mbps: { doc: 'Link rate towards the hospital, Mbit/s (as qualified); 0 when no policy is configured', format: 'non-negative-number', default: 0 },
    down_mbps: { doc: 'Link rate from the hospital, Mbit/s', format: 'non-negative-number', default: 0 },
    shape_percent: { doc: 'Shape at this share of the link so the queue forms here, not in the modem', format: 'nat', default: 95 },
    classes: {
      doc: 'Traffic classes [{name, dscp, priority, rate_mbps, ceil_mbps, match:{local, remote, protocol, remote_ports}}]; see config/qos-policy.example.json',
      format: 'qos-classes',
      default: [] as unknown[],
    },
    link_layer: {
      preset: {
        doc: "The bottleneck link's framing, so the shaper counts what a packet costs on the line: none (IP octets), ethernet, ethernet-vlan, docsis, vdsl-pppoe, vdsl-bridged, adsl-pppoe-llc, adsl-pppoe-vcmux, adsl-pppoa-llc, adsl-pppoa-vcmux, adsl-bridged-llc, adsl-bridged-vcmux, conservative (ATM, 48 octets), or custom",
        format: String,
        default: 'none',
      },
      type: { doc: 'With preset custom: ethernet, ptm (VDSL2 64b/65b) or atm (ADSL cells)', format: String, default: '' },
      overhead: { doc: 'With preset custom: octets each packet carries on the link beyond its IP octets (-64..256)', format: 'int', default: 0 },
      mpu: { doc: 'With preset custom: the smallest frame on the link, octets (0..256)', format: 'int', default: 0 },
    },
    autorate: {
      enabled: {
        doc: 'Let the shaped rates follow the link (usmp-edge-qos-autorate.service): down when probes show a queue beyond us, up again while the link is loaded and calm',
        format: Boolean,
        default: false,
      },
      floor_percent: { doc: 'Lowest shaped rate, percent of the configured one (it must still hold the committed rates)', format: 'nat', default: 30 },
      delay_threshold_ms: {
        doc: 'RTT rise over the baseline that means a queue formed beyond the appliance (the probes travel in a priority class)',
        format: 'positive-number',
        default: 4,
      },
      decrease_percent: { doc: 'On such a rise: the rate drops this far below what the link just carried', format: 'nat', default: 10 },
      increase_percent: {
        doc: 'While loaded and calm: the rate grows by this percent of the configured rate per probe window',
        format: 'positive-number',
        default: 2,
      },
      load_percent: { doc: 'A direction is loaded when it carries at least this percent of its current rate', format: 'nat', default: 75 },
      hold_down_s: { doc: 'No increase for this long after a decrease', format: 'non-negative-number', default: 10 },
      probes_per_s: { doc: 'STAMP probes per second to qos.check_target (or monitor.target)', format: 'positive-number', default: 20 },
      window_ms: { doc: 'Probe window: one decision per window', format: 'nat', default: 500 },
      stale_s: { doc: 'Without a probe answered for this long the rate freezes at its last value', format: 'positive-number', default: 3 },
    },
    confirm_timeout_s: { doc: 'Confirmed commit: the change is undone by itself unless checked within this time', format: 'nat', default: 60 },
    check_target: { doc: 'Hospital address probed to confirm a change (a usmp-edge responder); defaults to qualify.target', format: 'host', default: '' },
    check_port: { doc: 'STAMP port of the responder probed to confirm a change', format: 'port', default: 862 },
    state_dir: { doc: 'Where the roll-back state of the last change is kept', format: String, default: '/var/lib/usmp-edge/qos' },
    linux: {
      wan_interface: { doc: 'Interface towards the hospital (upload is shaped on its egress)', format: String, default: 'eth1' },
      lan_interface: { doc: 'Interface towards the USMP LAN (download is shaped on its egress)', format: String, default: 'eth0' },
    },
    routeros: {
      host: { doc: 'Address of the MikroTik router', format: 'host', default: '' },
      port: { doc: 'API port (8729 api-ssl, 8728 plain api)', format: 'port', default: 8729 },
      tls: { doc: 'Use api-ssl (plain api sends the password in clear)', format: Boolean, default: true },
      ca_file: { doc: "CA certificate that signed the router's api-ssl certificate (PEM)", format: String, default: '' },
      username: { doc: 'Router account (a group with the read,write,api,test policies only)', format: String, default: '' },
      password_file: { doc: 'File holding the router account password', format: 'secret-file', default: '' },
      wan_interface: { doc: 'Router interface towards the hospital (upload queue tree parent)', format: String, default: 'ether1' },
      lan_interface: { doc: 'Router interface or bridge towards the USMP (download queue tree parent)', format: String, default: 'bridge' },
      command_timeout_ms: { doc: 'Deadline of each API command', format: 'nat', default: 5000 },
      queue_kind: {
        doc: "Queue kind of our queue-tree leaves on RouterOS 7: fq-codel or cake (one queue type of ours); empty: the router's default",
        format: ['', 'fq-codel', 'cake'] as const,
        default: '',
      },
    },
  },
  broker: {
    listeners: {
      doc: 'Device listeners [{type: tcp|tls|ws, host, port, cert_file?, key_file?, ca_file?, require_client_cert?}]; by default TLS only, with the certificate `usmp-edge device tls-cert` makes (tcp and ws are plaintext: warned at every start)',
      format: 'broker-listeners',
      default: [
        { type: 'tls', host: '0.0.0.0', port: 8883, cert_file: '/var/lib/usmp-edge/broker-tls/cert.pem', key_file: '/var/lib/usmp-edge/broker-tls/key.pem' },
      ] as unknown[],
    },
    devices_file: {
      doc: 'Enrolled devices and their password hashes (written by usmp-edge device add)',
      format: String,
      default: '/var/lib/usmp-edge/devices.json',
    },
    topic_prefix: { doc: 'Each device publishes under <prefix>/<device>/ and reads <prefix>/<device>/cmd/', format: String, default: 'devices' },
    max_payload_bytes: { doc: 'Largest message a device may publish (bigger: the connection is closed)', format: 'nat', default: 8 * 1024 * 1024 },
    publishes_per_s: { doc: 'Publishes per second per device; beyond, the device is slowed down', format: 'nat', default: 200 },
    publish_burst: { doc: 'Publishes a device may send at once above its rate', format: 'nat', default: 1000 },
    bytes_per_s: {
      doc: "Payload bytes per second per device (a burst of one largest message or a second's worth); beyond, the device is slowed down",
      format: 'nat',
      default: 2 * 1024 * 1024,
    },
    device_outbox_share_percent: {
      doc: 'Most of the outbox (its messages and its bytes) one device may hold while the hospital is away; over it, that device alone is refused',
      format: 'nat',
      default: 25,
    },
    retained_bytes_per_device: {
      doc: 'Retained payload bytes one device may keep on the broker; 0: retained publishes are refused (no reader needs them)',
      format: 'nat',
      default: 0,
    },
    unauthenticated_per_address: {
      doc: 'Connections from one address that have not yet authenticated (a cart whose devices all start at once needs a few); beyond, new ones are refused',
      format: 'nat',
      default: 8,
    },
    unauthenticated_max: {
      doc: 'Connections not yet authenticated, all addresses together; past it the oldest is closed to make room, and the other slots of max_connections stay for devices that signed in',
      format: 'nat',
      default: 32,
    },
    flood_disconnect_s: { doc: 'A device that would have to wait longer than this for its rate is disconnected (a flood)', format: 'nat', default: 10 },
    max_connections: { doc: 'Most device connections at once (all listeners)', format: 'nat', default: 64 },
    connects_per_s_per_address: { doc: 'New connections per second from one address (burst of 5 s worth)', format: 'nat', default: 2 },
    max_topic_levels: { doc: 'Most levels in a topic', format: 'nat', default: 8 },
    drain_timeout_s: { doc: 'A device that does not read what it is sent for this long is dropped (slow client)', format: 'nat', default: 10 },
    connect_timeout_s: { doc: 'Time allowed between the TCP connection and the MQTT CONNECT', format: 'nat', default: 5 },
    keepalive_limit_s: { doc: 'Largest keep-alive a device may ask for', format: 'nat', default: 300 },
  },
  bridge: {
    upstream: {
      url: { doc: 'Hospital MQTT broker (mqtts://host:8883); empty disables the bridge', format: 'mqtt-url', default: '' },
      username: { doc: 'User name at the hospital broker', format: String, default: '' },
      password_file: { doc: 'File holding the hospital broker password', format: 'secret-file', default: '' },
      ca_file: { doc: "CA certificate(s) that signed the hospital broker's certificate (PEM); empty: the system CAs", format: String, default: '' },
      cert_file: { doc: 'Client certificate presented to the hospital broker (PEM)', format: String, default: '' },
      key_file: { doc: 'Private key of the client certificate (PEM)', format: 'secret-file', default: '' },
      client_id: { doc: 'Client id at the hospital broker (default usmp-edge-<appliance id>)', format: String, default: '' },
      protocol: { doc: 'MQTT level towards the hospital: auto (5, else 3.1.1), 5, 3.1.1', format: ['auto', '5', '3.1.1'] as const, default: 'auto' },
      session_expiry_s: { doc: 'MQTT 5 session expiry: how long the hospital keeps our command subscription while we are away', format: 'nat', default: 86400 },
    },
    remote_prefix: {
      doc: 'Topic prefix at the hospital replacing broker.topic_prefix ({appliance_id} is replaced)',
      format: String,
      default: 'usmp/{appliance_id}/devices',
    },
    commands: { doc: "Also carry the hospital's commands (<remote prefix>/<device>/cmd/#) to the devices", format: Boolean, default: true },
    window: { doc: 'Messages in flight to the hospital at once', format: 'nat', default: 256 },
    reconnect_min_ms: { doc: 'Shortest wait before reconnecting to the hospital broker', format: 'nat', default: 1000 },
    reconnect_max_ms: { doc: 'Longest wait before reconnecting (jittered between the two)', format: 'nat', default: 30000 },
    ack_timeout_s: { doc: 'A connection on which nothing is acknowledged for this long is redone', format: 'nat', default: 60 },
    outbox_dir: { doc: 'Durable outbox (messages acknowledged to devices, not yet to the hospital)', format: String, default: '/var/lib/usmp-edge/outbox' },
    outbox_max_messages: { doc: 'Outbox capacity in messages; when full, devices are refused (never a silent drop)', format: 'nat', default: 2_000_000 },
    outbox_max_mb: { doc: 'Outbox capacity in MiB on disk', format: 'nat', default: 2048 },
    stats_interval_s: { doc: 'Every so often, a log event with queue depth, oldest age and rates (0: never)', format: 'nat', default: 60 },
  },
  monitor: {
    target: {
      doc: 'Responder probed around the clock (a usmp-edge responder at the hospital); empty: qualify.target; both empty: no monitoring',
      format: 'host',
      default: '',
    },
    stamp_port: { doc: 'STAMP port of the responder', format: 'port', default: 862 },
    profile: { doc: 'Profile whose limits the link is held to; empty: qualify.profile', format: String, default: '' },
    window_s: { doc: 'Length of a probe window, judged with the uncertainty of its figures (docs/architecture.md, "Alerts")', format: 'nat', default: 5 },
    probes_per_s: { doc: 'STAMP probes per second (12/s: 9.0 kbit/s per direction measured on Ethernet)', format: 'positive-number', default: 12 },
    confirmation_probes_per_s: {
      doc: 'Probes per second while a loss is being confirmed or is in progress (0: no confirmation rate); tells a real loss from chance in seconds',
      format: 'non-negative-number',
      default: 80,
    },
    rtt_increase_ms: {
      doc: "DEGRADED when a window's median RTT exceeds the link's baseline (lowest median of baseline_hours) by this much",
      format: 'nat',
      default: 20,
    },
    baseline_hours: { doc: 'Period over which the RTT baseline is the lowest window median', format: 'nat', default: 24 },
    enter_windows: { doc: "Windows in a row judged worse before a metric's state worsens", format: 'nat', default: 1 },
    leave_windows: { doc: "Windows in a row judged better before a metric's state improves (hysteresis)", format: 'nat', default: 4 },
    throughput: {
      interval_min: { doc: 'Minutes between scheduled throughput tests (0: none)', format: 'non-negative-number', default: 360 },
      duration_s: { doc: 'Length of each direction of a test (≤ 10 s: ≤ 20 s in all)', format: 'nat', default: 8 },
      off_peak_from_hour: { doc: 'Tests run only from this local hour…', format: 'hour', default: 0 },
      off_peak_to_hour: { doc: '…to this one (equal to the first: any hour)', format: 'hour', default: 0 },
      iperf_port: { doc: 'First iperf3 port of the responder', format: 'port', default: 5201 },
      iperf_ports: { doc: 'Number of iperf3 ports at the responder (busy → next)', format: 'nat', default: 4 },
      drop_pct: { doc: 'DEGRADED when a test gives this much less than the best of the last 8', format: 'nat', default: 30 },
      skip_during_calls: { doc: 'Skip a test while RTP is seen (a consultation in progress); needs capture.interface', format: Boolean, default: true },
    },
    alerts: {
      state_topic: { doc: 'Retained topic on the local broker holding the link state', format: String, default: 'usmp-edge/monitor/state' },
      events_topic: { doc: 'Topic on the local broker receiving each alert', format: String, default: 'usmp-edge/monitor/events' },
      readers: { doc: 'Enrolled clients (usmp-edge device add) allowed to read the two topics above', format: 'string-list', default: [] as string[] },
      webhook_url: { doc: 'HTTP(S) URL receiving each alert as a JSON POST (empty: none)', format: String, default: '' },
      webhook_token_file: { doc: 'File holding a bearer token sent with webhook posts', format: 'secret-file', default: '' },
      webhook_attempts: { doc: 'Attempts per alert before it goes to the dead-letter file', format: 'nat', default: 8 },
      dead_letter_file: {
        doc: 'Where alerts the webhook could not take are kept (JSON lines)',
        format: String,
        default: '/var/lib/usmp-edge/alerts-dead-letter.ndjson',
      },
    },
  },
  capture: {
    interface: { doc: 'Interface on which telemedicine calls pass (mirror port or inline); empty: no passive analysis', format: String, default: '' },
    filter: { doc: "Capture filter (BPF) selecting the calls' media", format: String, default: 'udp' },
    clock_rates: { doc: 'Clock rates of dynamic RTP payload types, as "PT=HZ" (e.g. "96=90000", "111=48000")', format: 'string-list', default: [] as string[] },
    idle_s: { doc: 'A stream, or a call, silent this long has ended (a call is logged as call.ended)', format: 'nat', default: 30 },
    min_call_s: { doc: 'Calls shorter than this are counted apart, as attempts', format: 'nat', default: 60 },
    station_networks: {
      doc: "Networks of the unit's telemedicine stations (CIDR list): the end of a call inside one is the station; empty: the networks of capture.interface",
      format: 'prefix-list',
      default: [] as string[],
    },
    helper_socket: {
      doc: 'Unix socket of the capture helper unit (usmp-edge-capture.socket, which alone holds CAP_NET_RAW); empty: the daemon starts the helper itself',
      format: String,
      default: '',
    },
  },
  metrics: {
    listen: { doc: 'HOST:PORT of /metrics (Prometheus) and /health; empty: off', format: 'host-port', default: '127.0.0.1:9469' },
  },
};

export type ConfigDefinition = typeof schemaDefinition;

interface LeafSchema {
  doc: string;
  format: unknown;
  default: unknown;
  env?: string;
}

function isLeaf(node: unknown): node is LeafSchema {
  return typeof node === 'object' && node !== null && 'default' in node && 'doc' in node;
}

/** `responder.stamp_port` → `USMP_EDGE_RESPONDER_STAMP_PORT`. */
export function envNameFor(keyPath: string): string {
  return `USMP_EDGE_${keyPath.replace(/\./g, '_').toUpperCase()}`;
}

/** Every leaf of the schema with its path, in declaration order. */
export function listLeaves(node: unknown = schemaDefinition, prefix = ''): Array<{ path: string; leaf: LeafSchema }> {
  const out: Array<{ path: string; leaf: LeafSchema }> = [];
  for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isLeaf(child)) out.push({ path, leaf: child });
    else out.push(...listLeaves(child, path));
  }
  return out;
}

/** A deep copy of the schema with `env` filled in for every key. */
export function schemaWithEnv(): ConfigDefinition {
  const copy = structuredCloneSchema(schemaDefinition) as ConfigDefinition;
  for (const { path, leaf } of listLeaves(copy)) leaf.env = envNameFor(path);
  return copy;
}

// structuredClone drops functions (String, Number formats), so copy by hand.
function structuredCloneSchema(node: unknown): unknown {
  if (Array.isArray(node)) return [...(node as unknown[])];
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, structuredCloneSchema(v)]));
}
