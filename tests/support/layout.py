"""A layout checker for any page, run in Chromium: text that overflows, overlaps or scrolls.

``layout_problems(page)`` measures the boxes Chromium laid out and returns
every problem as a readable line (a selector-ish path and the text), so an
assertion ``== []`` shows what is wrong and where:

- the document scrolls sideways (``scrollWidth`` wider than the viewport);
- a text box (each line of a text node, through a ``Range``; each SVG
  ``<text>``) leaves the content box of its nearest block container (its
  ``<svg>`` for SVG text) or of any container around that one (a box that
  sticks out of its parent takes its text along), saying "cut off" where the
  container clips (``overflow`` other than visible);
- a picture (``img``, ``svg``, ``video``, ``canvas``, ``iframe``) sticks out of
  its container in the same way;
- an element that clips has content wider than itself (``scrollWidth >
  clientWidth``);
- two text boxes overlap by more than ~1 px both ways;
- a chart (an ``<svg>`` with ``line.axis``) shows fewer than three labels, or a
  label crosses one of its axes (the plot's edges) or leaves the ``<svg>``.

Text that is visually hidden on purpose is skipped: not rendered
(``checkVisibility``), clipped away (``clip``/``clip-path``, the ``sr-only``
pattern) or moved off the page to the left or top (a skip link).

``every_state_problems(page)`` opens every ``<details>`` and checks the page
once per radio position: the first radio of every group, then the second, …
(the latency windows are CSS-switched radio groups), so every chart of every
window is measured. ``site_pages(site_dir)`` lists every ``.html`` of a site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TOLERANCE_PX", "every_state_problems", "layout_problems", "site_pages"]

TOLERANCE_PX = 1.0

# Run in the page with the tolerance in px: a list of problems, as words.
_CHECK = """(tol) => {
  const bad = [];
  const root = document.documentElement;
  const vw = root.clientWidth;
  if (root.scrollWidth > vw)
    bad.push(`the page scrolls sideways: ${root.scrollWidth} px wide in a ${vw} px viewport`);

  const path = el => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.body; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) { parts.unshift(s + '#' + e.id); break; }
      const cls = [...e.classList].slice(0, 2);
      if (cls.length) s += '.' + cls.join('.');
      parts.unshift(s);
    }
    return parts.join(' > ') || el.tagName.toLowerCase();
  };
  const words = t => {
    t = t.replace(/\\s+/g, ' ').trim();
    return JSON.stringify(t.length > 60 ? t.slice(0, 57) + '...' : t);
  };
  const styles = new Map();
  const style = el => {
    if (!styles.has(el)) styles.set(el, getComputedStyle(el));
    return styles.get(el);
  };
  const px = v => parseFloat(v) || 0;
  // Hidden on purpose: clipped to nothing (sr-only) or placed off the page (a skip link).
  const hiddenCache = new Map();
  const hidden = el => {
    if (hiddenCache.has(el)) return hiddenCache.get(el);
    let h = false;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) h = true;
    else {
      const s = style(el);
      if ((s.clip && s.clip !== 'auto') || (s.clipPath && s.clipPath !== 'none')) h = true;
      else if (s.position === 'absolute' || s.position === 'fixed') {
        const r = el.getBoundingClientRect();
        if (r.right + window.scrollX <= 0 || r.bottom + window.scrollY <= 0) h = true;
      }
      if (!h && el.parentElement) h = hidden(el.parentElement);
    }
    hiddenCache.set(el, h);
    return h;
  };
  const contentBox = el => {
    const r = el.getBoundingClientRect(), s = style(el);
    return {
      left: r.left + px(s.borderLeftWidth) + px(s.paddingLeft),
      right: r.right - px(s.borderRightWidth) - px(s.paddingRight),
      top: r.top + px(s.borderTopWidth) + px(s.paddingTop),
      bottom: r.bottom - px(s.borderBottomWidth) - px(s.paddingBottom),
    };
  };
  const clips = el => {
    const s = style(el);
    return s.overflowX !== 'visible' || s.overflowY !== 'visible';
  };
  const outside = (r, b) => r.left < b.left - tol || r.right > b.right + tol
    || r.top < b.top - tol || r.bottom > b.bottom + tol;
  const container = el => {
    for (let e = el; e; e = e.parentElement) {
      const d = style(e).display;
      if (d !== 'inline' && d !== 'contents') return e;
    }
    return document.body;
  };

  // Every visible text box: [rect, element, text, key of its node].
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let key = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el) continue;
    if (el.closest('svg, script, style, noscript, template')) continue;
    if (hidden(el)) continue;
    range.selectNodeContents(n);
    key++;
    for (const r of range.getClientRects())
      if (r.width > 0 && r.height > 0) boxes.push([r, el, n.textContent, key, container(el), n]);
  }
  for (const t of document.querySelectorAll('svg text')) {
    if (hidden(t)) continue;
    const r = t.getBoundingClientRect();
    if (r.width > 0 && r.height > 0)
      boxes.push([r, t, t.textContent, ++key, t.ownerSVGElement, null]);
  }

  if (!boxes.length) bad.push('no visible text to measure');
  // A line's box includes spaces that hang past its end (white-space: pre-wrap) and draw
  // nothing: a box that looks wrong is measured again word by word.
  const words_ = new Map();
  const wordRects = node => {
    if (!words_.has(node)) {
      const found = [];
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) found.push(r);
      }
      words_.set(node, found);
    }
    return words_.get(node);
  };
  const meets = (p, q) => Math.min(p.right, q.right) - Math.max(p.left, q.left) > tol
    && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > tol;
  const inked = (r, node) => node ? wordRects(node).filter(w => meets(w, r)) : [r];
  const said = new Set();
  const say = line => { if (!said.has(line)) { said.add(line); bad.push(line); } };
  // Inside its container's content box, and each enclosing container's (a box can overflow too).
  const boxCache = new Map();
  const limitOf = e => {
    if (!boxCache.has(e))
      boxCache.set(e, e instanceof SVGElement ? e.getBoundingClientRect() : contentBox(e));
    return boxCache.get(e);
  };
  // Text outside an enclosing container: a box in between sticks out; said once per box.
  const stuck = new Map();
  for (const [r, el, text, , box, node] of boxes) {
    for (let e = box; e; e = e === document.body ? null : container(e.parentElement)) {
      const limit = limitOf(e);
      if (!outside(r, limit) || !inked(r, node).some(w => outside(w, limit))) continue;
      const how = clips(e) ? 'is cut off by' : 'overflows';
      if (e === box) {
        say(`${path(el)} ${words(text)} ${how} its container ${path(e)}`);
        break;
      }
      let child = el;
      while (child.parentElement !== e) child = child.parentElement;
      const seen = stuck.get(child);
      if (seen) seen[1]++;
      else stuck.set(child, [`${path(child)} ${how} ${path(e)}`, 1, `${path(el)} ${words(text)}`]);
      break;
    }
  }
  for (const [what, n, first] of stuck.values())
    say(`${what}: ${n} text box${n > 1 ? 'es' : ''} outside it, the first ${first}`);
  // Pictures (a badge, a chart, an icon) are boxes that can stick out as well.
  for (const pic of document.body.querySelectorAll('img, svg, video, canvas, iframe')) {
    if (pic.ownerSVGElement || hidden(pic)) continue;
    const r = pic.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const up = e => e === document.body ? null : container(e.parentElement);
    for (let e = container(pic.parentElement); e; e = up(e))
      if (outside(r, limitOf(e))) {
        const name = pic.getAttribute('src') || pic.getAttribute('aria-label') || '';
        say(`${path(pic)} ${words(name)} ${clips(e) ? 'is cut off by' : 'overflows'} ${path(e)}`);
        break;
      }
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (!clips(el) || hidden(el)) continue;
    if (el.scrollWidth > el.clientWidth + tol)
      say(`${path(el)} clips or scrolls its content sideways:`
          + ` ${el.scrollWidth} px in ${el.clientWidth} px`);
  }

  // Overlaps: sorted by top, each box against those starting above its bottom.
  boxes.sort((a, b) => a[0].top - b[0].top);
  for (let i = 0; i < boxes.length; i++) {
    const [p, a, ta, ka, , na] = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j][0].top < p.bottom - tol; j++) {
      const [q, b, tb, kb, , nb] = boxes[j];
      if (ka === kb) continue;
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > tol && h > tol && inked(p, na).some(x => inked(q, nb).some(y => meets(x, y))))
        say(`${path(a)} ${words(ta)} overlaps ${path(b)} ${words(tb)}`);
    }
  }

  // Charts: enough labels, none across the plot's edges (its axis lines).
  for (const svg of document.querySelectorAll('svg')) {
    const axes = [...svg.querySelectorAll('line.axis')];
    if (!axes.length || hidden(svg)) continue;
    const labels = [...svg.querySelectorAll('text')].filter(t => !hidden(t));
    if (labels.length < 3) say(`${path(svg)} is a chart with ${labels.length} labels shown`);
    for (const t of labels) {
      const r = t.getBoundingClientRect();
      for (const line of axes) {
        const l = line.getBoundingClientRect();
        if (l.left <= r.right - tol && l.right >= r.left + tol
            && l.top <= r.bottom - tol && l.bottom >= r.top + tol) {
          say(`${path(t)} ${words(t.textContent)} crosses an axis of ${path(svg)}`);
          break;
        }
      }
    }
  }
  return bad;
}"""

# Run in the page: open every <details>; return the longest radio group's values, by position.
_PREPARE = """() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const groups = new Map();
  for (const r of document.querySelectorAll('input[type=radio]')) {
    if (!groups.has(r.name)) groups.set(r.name, []);
    groups.get(r.name).push(r.value || String(groups.get(r.name).length));
  }
  let longest = [];
  for (const g of groups.values()) if (g.length > longest.length) longest = g;
  return longest;
}"""

# Run in the page: check the k-th radio of every group that has one.
_PICK = """(k) => {
  const groups = new Map();
  for (const r of document.querySelectorAll('input[type=radio]')) {
    if (!groups.has(r.name)) groups.set(r.name, []);
    groups.get(r.name).push(r);
  }
  for (const g of groups.values()) if (g.length > k) g[k].checked = true;
}"""


async def layout_problems(page: Any, tolerance_px: float = TOLERANCE_PX) -> list[str]:
    """Return every text overflow, overlap and sideways scroll of `page` as it is shown now."""
    found: list[str] = await page.evaluate(_CHECK, tolerance_px)
    return found


async def every_state_problems(page: Any) -> list[str]:
    """Return the problems of `page` with every <details> open, at each radio position."""
    positions: list[str] = await page.evaluate(_PREPARE)
    if not positions:
        return await layout_problems(page)
    found: list[list[str]] = []
    for k in range(len(positions)):
        await page.evaluate(_PICK, k)
        found.append(await layout_problems(page))
    await page.evaluate(_PICK, 0)
    # A problem of every position once, as it is; one of some positions with the position.
    everywhere = [p for p in found[0] if all(p in f for f in found[1:])]
    out = list(everywhere)
    for value, problems in zip(positions, found, strict=True):
        out += [f"[{value} picked] {p}" for p in problems if p not in everywhere]
    return out


def site_pages(site_dir: Path) -> list[Path]:
    """Return every HTML page of a rendered site, in path order."""
    return sorted(site_dir.rglob("*.html"))
