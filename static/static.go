package static

import "embed"

// FS holds keyward.css, keyward.js and favicon.svg at its root. Serve it under
// /static/ (for example http.StripPrefix("/static/", http.FileServerFS(FS))).
// It is read-only and safe to share.
//
//go:embed keyward.css keyward.js favicon.svg recovery.js admin.js frontchannel.js
var FS embed.FS
