#!/usr/bin/env python3
"""Writes the local brand login pages (brands/<slug>/login.html, logo.html, brand.toml) and the
benign look-alike login pages used by the tests (tests/benign/<slug>.html).

The pages are our own drawings of each brand's sign-in screen: its logo (from simple-icons,
CC0-1.0, path data only), colours and layout, with no script and no outside resource. They stand
in for "local copies of the brands' real login pages"; swap in real saved copies (same three
files) and rerun `mailmoat brands capture crates/visual/brands` to rebuild the references.

usage: make-pages.py SIMPLE_ICONS_PACKAGE_DIR    (npm pack simple-icons@13.21.0; tar xzf)
"""
import json
import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
icons = os.path.join(sys.argv[1], "icons")


def path_of(slug):
    svg = open(os.path.join(icons, f"{slug}.svg")).read()
    return re.search(r'<path d="([^"]+)"', svg).group(1)


def icon(slug, colour, size):
    return (f'<svg width="{size}" height="{size}" viewBox="0 0 24 24" xmlns="http://www.w3.org/2000/svg">'
            f'<path fill="#{colour}" d="{path_of(slug)}"/></svg>')


MICROSOFT = ('<svg width="{s}" height="{s}" viewBox="0 0 23 23" xmlns="http://www.w3.org/2000/svg">'
             '<rect x="1" y="1" width="10" height="10" fill="#f25022"/><rect x="12" y="1" width="10" height="10" fill="#7fba00"/>'
             '<rect x="1" y="12" width="10" height="10" fill="#00a4ef"/><rect x="12" y="12" width="10" height="10" fill="#ffb900"/></svg>')

# slug: (brand name as in the brand list, logo markup, layout, colours)
BRANDS = {
    "paypal": ("PayPal", lambda: icon("paypal", "003087", 64), "centered",
               dict(bg="#ffffff", card="#ffffff", accent="#0070ba", text="#2c2e2f", border="#ffffff")),
    "microsoft": ("Microsoft", lambda: MICROSOFT.format(s=52), "left-card",
                  dict(bg="#f2f2f2", card="#ffffff", accent="#0067b8", text="#1b1b1b", border="#ffffff")),
    "google": ("Google", lambda: icon("google", "4285F4", 56), "centered",
               dict(bg="#ffffff", card="#ffffff", accent="#1a73e8", text="#202124", border="#dadce0")),
    "apple": ("Apple", lambda: icon("apple", "000000", 72), "centered",
              dict(bg="#fbfbfd", card="#fbfbfd", accent="#0071e3", text="#1d1d1f", border="#fbfbfd")),
    "dhl": ("DHL", lambda: icon("dhl", "D40511", 110), "topbar",
            dict(bg="#ffffff", card="#ffffff", accent="#d40511", text="#333333", border="#cccccc", bar="#ffcc00")),
    "netflix": ("Netflix", lambda: icon("netflix", "E50914", 80), "dark",
                dict(bg="#141414", card="#000000", accent="#e50914", text="#ffffff", border="#000000")),
    "naver": ("Naver", lambda: icon("naver", "03C75A", 60), "centered",
              dict(bg="#f5f6f7", card="#ffffff", accent="#03c75a", text="#222222", border="#dadada")),
    "kakao": ("Kakao", lambda: icon("kakao", "191919", 110), "centered",
              dict(bg="#ffffff", card="#ffffff", accent="#fee500", text="#191919", border="#ffffff")),
}

# Other services' sign-in pages: real logos of brands we do not protect, and made-up ones.
BENIGN = {
    "gitlab": (lambda: icon("gitlab", "FC6D26", 64), "centered", dict(bg="#fafafa", card="#ffffff", accent="#1f75cb", text="#333238", border="#dcdcde")),
    "nextcloud": (lambda: icon("nextcloud", "ffffff", 90), "centered", dict(bg="#0082c9", card="#0082c9", accent="#ffffff", text="#ffffff", border="#0082c9")),
    "roundcube": (lambda: icon("roundcube", "37BEFF", 72), "centered", dict(bg="#f4f4f4", card="#ffffff", accent="#37beff", text="#2c363a", border="#d4dbde")),
    "wordpress": (lambda: icon("wordpress", "21759B", 84), "centered", dict(bg="#f0f0f1", card="#ffffff", accent="#2271b1", text="#3c434a", border="#c3c4c7")),
    "mastodon": (lambda: icon("mastodon", "6364FF", 64), "dark", dict(bg="#191b22", card="#282c37", accent="#6364ff", text="#ffffff", border="#282c37")),
    "moodle": (lambda: icon("moodle", "F98012", 64), "left-card", dict(bg="#eef1f4", card="#ffffff", accent="#0f6cbf", text="#1d2125", border="#dee2e6")),
    "bitwarden": (lambda: icon("bitwarden", "175DDC", 64), "centered", dict(bg="#f3f6f9", card="#ffffff", accent="#175ddc", text="#212529", border="#ced4da")),
    "keycloak": (lambda: icon("keycloak", "4D4D4D", 64), "topbar", dict(bg="#ffffff", card="#ffffff", accent="#0066cc", text="#151515", border="#d2d2d2", bar="#f0f0f0")),
    "acme-intranet": (lambda: '<svg width="64" height="64" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10" fill="#2b6cb0"/><path d="M7 16 12 6 17 16Z" fill="#fff"/></svg>',
                      "left-card", dict(bg="#f2f2f2", card="#ffffff", accent="#2b6cb0", text="#1b1b1b", border="#ffffff")),
    "city-library": (lambda: '<svg width="70" height="60" viewBox="0 0 28 24"><rect x="2" y="4" width="6" height="18" fill="#6b46c1"/><rect x="10" y="2" width="6" height="20" fill="#805ad5"/><rect x="18" y="6" width="6" height="16" fill="#9f7aea"/></svg>',
                     "centered", dict(bg="#ffffff", card="#ffffff", accent="#6b46c1", text="#2d3748", border="#e2e8f0")),
}

STYLE = """
body {{ margin: 0; background: {bg}; color: {text}; font-family: "Segoe UI", Helvetica, Arial, sans-serif; }}
.wrap {{ {wrap} }}
.card {{ background: {card}; border: 1px solid {border}; border-radius: 8px; padding: 40px; width: 360px; }}
.logo {{ {logo_pos} }}
h1 {{ font-size: 24px; font-weight: 500; margin: 24px 0 8px; }}
p.sub {{ font-size: 15px; margin: 0 0 24px; opacity: .8; }}
input {{ display: block; width: 100%; box-sizing: border-box; font-size: 16px; padding: 12px; margin: 0 0 14px;
        border: 1px solid #8a8a8a; border-radius: 4px; background: {input_bg}; color: {text}; }}
button {{ width: 100%; padding: 12px; font-size: 16px; border: 0; border-radius: 4px; background: {accent}; color: {button_text}; }}
a.small {{ display: block; margin-top: 18px; font-size: 14px; color: {accent}; }}
.bar {{ background: {bar}; height: 90px; padding: 0 40px; display: flex; align-items: center; }}
"""

LAYOUTS = {
    "centered": dict(wrap="display: flex; justify-content: center; padding-top: 70px;", logo_pos="text-align: center;"),
    "left-card": dict(wrap="padding: 110px 0 0 180px;", logo_pos="text-align: left;"),
    "topbar": dict(wrap="display: flex; justify-content: center; padding-top: 50px;", logo_pos="display: none;"),
    "dark": dict(wrap="padding: 30px 0 0 0; display: flex; justify-content: center;", logo_pos="position: absolute; left: 48px; top: 20px;"),
}


def page(title, logo, layout, colours, heading, sub, button):
    c = dict(colours)
    c.setdefault("bar", c["bg"])
    dark = c["bg"] in ("#141414", "#191b22", "#0082c9")
    style = STYLE.format(**c, **LAYOUTS[layout],
                         input_bg="#333333" if dark else "#ffffff",
                         button_text="#191919" if c["accent"] in ("#fee500", "#ffffff") else "#ffffff")
    bar = f'<div class="bar"><div class="brandmark">{logo}</div></div>' if layout == "topbar" else ""
    outer_logo = f'<div class="logo">{logo}</div>' if layout == "dark" else ""
    inner_logo = f'<div class="logo">{logo}</div>' if layout in ("centered", "left-card") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style></head>
<body>
{bar}{outer_logo}
<div class="wrap"><form class="card" onsubmit="return false">
{inner_logo}
<h1 id="heading">{heading}</h1>
<p class="sub" id="subtitle">{sub}</p>
<input type="email" placeholder="Email or phone" aria-label="Email">
<input type="password" placeholder="Password" aria-label="Password">
<button id="button" type="submit">{button}</button>
<a class="small" href="#">Forgot password?</a>
</form></div>
</body></html>
"""


def logo_page(logo):
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><style>body {{ margin: 0; background: #ffffff; }} div {{ position: absolute; left: 40px; top: 40px; }}</style></head>
<body><div>{logo}</div></body></html>
"""


for slug, (name, logo, layout, colours) in BRANDS.items():
    d = os.path.join(here, slug)
    os.makedirs(d, exist_ok=True)
    mark = logo()
    open(os.path.join(d, "login.html"), "w").write(
        page(f"Sign in - {name}", mark, layout, colours, "Sign in", f"Use your {name} account", "Next"))
    open(os.path.join(d, "logo.html"), "w").write(logo_page(mark))
    open(os.path.join(d, "brand.toml"), "w").write(f'name = "{name}"\n')

bdir = os.path.join(here, "..", "tests", "benign")
os.makedirs(bdir, exist_ok=True)
for slug, (logo, layout, colours) in BENIGN.items():
    title = slug.replace("-", " ").title()
    open(os.path.join(bdir, f"{slug}.html"), "w").write(
        page(f"Sign in - {title}", logo(), layout, colours, "Sign in", f"Use your {title} account", "Next"))
print(json.dumps({"brands": list(BRANDS), "benign": list(BENIGN)}))
