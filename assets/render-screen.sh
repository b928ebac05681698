# Sourced by the picture scripts: render FILE turns the ANSI screen FILE.ans (tmux
# capture-pane -e -p, 160x48) into FILE.html and FILE.png. Needs $work (a scratch directory),
# aha, chromium and fonts-dejavu-core.

# Crisp text: no font smoothing, so each picture has only the dashboard's own dozen colours
# (small PNGs, and a GIF that needs no colour reduction).
cat > "$work/fonts.conf" <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <match target="font">
    <edit name="antialias" mode="assign"><bool>false</bool></edit>
    <edit name="hinting" mode="assign"><bool>true</bool></edit>
    <edit name="hintstyle" mode="assign"><const>hintfull</const></edit>
  </match>
</fontconfig>
EOF

# ANSI screen $1.ans to $1.png: 160 columns of 8 pixels and 48 rows of 16, and a margin.
render() {
    aha --black --title tokmon < "$1.ans" > "$1.html"
    # A monospace font with box drawing, blocks and braille; tight lines so they join up.
    sed -i -e 's|<pre>|<pre style="font-family: DejaVu Sans Mono, monospace; font-size: 14px; line-height: 1.15; margin: 0; padding: 8px">|' \
        -e 's|<body[^>]*>|&<style>body { margin: 0 }</style>|' "$1.html"
    FONTCONFIG_FILE=$work/fonts.conf chromium --headless --no-sandbox --disable-gpu \
        --disable-quic --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$work/profile" --hide-scrollbars --window-size=1296,790 \
        --screenshot="$1.png" "file://$1.html" >/dev/null 2>&1
}

