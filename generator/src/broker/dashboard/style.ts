// The dashboard's one stylesheet, served by the broker itself (/ui/style.css; CSP style-src 'self').
// Colours meet WCAG 2.2 AA contrast (4.5:1 for text) on their backgrounds; focus is always visible.
export const STYLE = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #4a5361; --bg: #ffffff; --line: #c9d1d9; --accent: #0b5cad; --bad: #a4111c; --ok: #116329; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 16px; padding: 10px 20px; border-bottom: 1px solid var(--line); }
header nav ul { display: flex; gap: 14px; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
header .who { margin-left: auto; color: var(--muted); }
main { padding: 16px 20px; max-width: 1200px; }
h1 { font-size: 1.4rem; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 12px 0; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.details { max-width: 48ch; overflow-wrap: anywhere; }
th { font-weight: 600; }
form.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; }
label { display: block; font-weight: 600; } label.inline { display: inline; }
input, select, button, textarea { font: inherit; padding: 4px 8px; border: 1px solid #6e7781; border-radius: 4px; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
:focus-visible { outline: 3px solid #d4a72c; outline-offset: 2px; }
.field { margin: 10px 0; }
.error { color: var(--bad); font-weight: 600; }
.notice { padding: 8px 12px; border: 1px solid var(--line); border-left: 4px solid var(--accent); margin: 10px 0; }
.notice.bad { border-left-color: var(--bad); }
.notice.ok { border-left-color: var(--ok); }
.muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.92em; }
.labels code { display: inline-block; margin: 0 4px 2px 0; padding: 0 4px; border: 1px solid var(--line); border-radius: 3px; }
`;
