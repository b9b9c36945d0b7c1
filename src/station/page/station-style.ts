// The station page's style sheet (served as /station.css: the CSP allows no inline style).

export const STATION_STYLE = `
body { font-family: system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1b1f24; }
main { max-width: 44rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.5rem; margin-top: 0; }
.site { color: #4a5563; margin-top: -.5rem; }
label { display: block; font-weight: 600; margin: 1rem 0 .3rem; }
input { font-size: 1.2rem; padding: .4rem .6rem; width: 100%; box-sizing: border-box; }
#code { letter-spacing: .3em; width: 10rem; }
button { font-size: 1rem; margin-top: .8rem; padding: .5rem 1rem; border: 0; border-radius: 4px; background: #1f5fbf; color: #fff; cursor: pointer; }
button:disabled { background: #9aa7b8; }
progress { width: 100%; height: 1.2rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #dde2e8; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 1.2rem; font-weight: 700; }
.pass { color: #17702f; }
.fail { color: #b3261e; }
.incomplete { color: #8a5a00; }
#message { color: #b3261e; min-height: 1.2rem; }
`;
