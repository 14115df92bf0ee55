"""A map of the style space: every painting (and the user's own images) placed by its latent code.

    space = load_style_space()
    style_map = build_style_map(space, styles_dir="my_styles/", method="pca")
    write_style_map_html(style_map, "map.html")          # interactive, self-contained, offline
    plot_style_map(style_map, "map.png")                 # static (matplotlib)

* Each painting of the space is placed by its stored latent code (the posterior mean), each image
  of ``styles_dir`` by :meth:`StyleSpace.encode_image`; all codes are projected to 2-D together
  (:func:`painterly.analysis.embedding_plot.project`: PCA, t-SNE or UMAP, deterministic per seed).
* The paintings cannot ship, so a painting is shown by its *swatch* (:mod:`.swatches`: a texture
  with the painting's decoded statistics) or, where none is packaged, a flat colour estimated from
  its decoded relu1_1 statistics. A user image is shown by itself, downscaled.
* The HTML page holds everything inline (thumbnails as base64 data URIs, the data as JSON, plain
  JavaScript; nothing is fetched): items at their 2-D positions, drag to pan, wheel or buttons to
  zoom, hover for the name and whether it is held out (never trained on) or the user's image, a
  search box that highlights names, and a click on two items shows the command of a style path
  between them (``painterly style-path photo.jpg A B``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PainterlyError
from ..io.formats import IMAGE_SUFFIXES
from ..io.image import atomic_write_bytes
from .space import StyleSpace

MAP_METHODS = ("pca", "tsne", "umap")
USER_THUMBNAIL = 96          # px, longer side of a user image's thumbnail
FLAT_THUMBNAIL = 16          # px, the flat-colour stand-in (scaled up by the page)
DISPLAY_SIZE = 44            # px, an item's side on the page at zoom 1
AXIS_NAMES = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}

SkipCallback = Callable[[Path, str], None]


@dataclass
class MapItem:
    """One thing on the map: a painting of the space or an image of the user's folder."""

    name: str                          # painting name, or the user's file name
    kind: str                          # "painting" | "user"
    code: np.ndarray                   # latent code
    thumbnail: bytes                   # an encoded image (JPEG or PNG)
    mime: str = "image/jpeg"
    held_out: bool = False             # a painting never trained on
    path: str | None = None            # a user image's file, as given
    swatch: bool = True                # a painting shown by its swatch (False: a flat colour)

    @property
    def argument(self) -> str:
        """How ``painterly style-path`` names this style (shell-quoted): the painting name or the file."""
        return shlex.quote(self.path if self.kind == "user" and self.path else self.name)

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.thumbnail).decode('ascii')}"


@dataclass
class StyleMap:
    """Items and their 2-D positions (N x 2, same order)."""

    items: list[MapItem]
    points: np.ndarray
    method: str = "pca"
    latent: int = 0
    model: str = ""
    seed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def paintings(self) -> list[MapItem]:
        return [i for i in self.items if i.kind == "painting"]

    @property
    def user(self) -> list[MapItem]:
        return [i for i in self.items if i.kind == "user"]

    def summary(self) -> dict:
        return {"method": self.method, "seed": self.seed, "latent": self.latent, "model": self.model,
                "paintings": len(self.paintings), "held_out": sum(i.held_out for i in self.paintings),
                "swatches": sum(i.swatch for i in self.paintings), "user_images": len(self.user),
                "skipped": [{"file": f, "reason": r} for f, r in self.skipped]}


# --------------------------------------------------------------------------- items


def _encode(image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def flat_thumbnail(rgb: tuple[int, int, int]) -> bytes:
    """A small PNG of one flat colour."""
    from PIL import Image

    return _encode(Image.new("RGB", (FLAT_THUMBNAIL, FLAT_THUMBNAIL), tuple(rgb)), "PNG")


def painting_items(space: StyleSpace, swatches: str | Path | None = None) -> list[MapItem]:
    """Every painting of ``space`` with its code and its swatch (``swatches`` folder or the packaged ones)."""
    from .swatches import mean_colour, swatch_path

    items = []
    for i, name in enumerate(space.names):
        code = space.codes[i]
        held = bool(space.held_out[i]) if i < len(space.held_out) else False
        path = swatch_path(name, swatches)
        if path is not None:
            item = MapItem(name, "painting", code.numpy().astype(np.float64), path.read_bytes(), "image/jpeg", held)
        else:
            rgb = mean_colour(space.stats(code))
            item = MapItem(name, "painting", code.numpy().astype(np.float64), flat_thumbnail(rgb), "image/png", held,
                           swatch=False)
        items.append(item)
    return items


def image_files(folder: str | Path) -> list[Path]:
    """The image files (by extension) directly in ``folder``, sorted; an error for none or no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PainterlyError(f"--styles {folder}: not a folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PainterlyError(f"--styles {folder}: no images in it (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def _warn_skip(path: Path, reason: str) -> None:
    warnings.warn(f"skipped {path}: {reason}", stacklevel=3)


def user_items(space: StyleSpace, folder: str | Path, on_skip: SkipCallback | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[MapItem], list[tuple[str, str]]]:
    """The user's images in ``folder`` encoded into ``space``; unreadable ones are skipped (``on_skip``,
    default a warning). Raises :class:`PainterlyError` if no image is left."""
    from ..io.image import load_image, tensor_to_pil

    files = image_files(folder)
    on_skip = on_skip or _warn_skip
    items, skipped = [], []
    for k, path in enumerate(files):
        try:
            image = load_image(path)
        except (PainterlyError, OSError, ValueError) as exc:
            reason = str(exc)
            reason = reason[len(str(path)) + 2:] if reason.startswith(f"{path}: ") else reason
            skipped.append((str(path), reason))
            on_skip(path, reason)
        else:
            code = space.encode_image(image).numpy().astype(np.float64)
            thumb = tensor_to_pil(image)
            thumb.thumbnail((USER_THUMBNAIL, USER_THUMBNAIL))
            items.append(MapItem(path.name, "user", code, _encode(thumb), "image/jpeg", path=str(path)))
        if progress is not None:
            progress(k + 1, len(files))
    if not items:
        raise PainterlyError(f"--styles {folder}: none of its {len(files)} image(s) could be read")
    return items, skipped


# --------------------------------------------------------------------------- projection


def project_codes(codes: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """N x latent codes -> N x 2 positions (PCA, t-SNE or UMAP; deterministic per seed)."""
    from ..analysis.embedding_plot import project

    if method not in MAP_METHODS:
        raise PainterlyError(f"unknown projection {method!r}: use {', '.join(MAP_METHODS)}")
    return project(np.asarray(codes, dtype=np.float64), method, 2, seed)[:, :2]


def normalise_points(points: np.ndarray) -> np.ndarray:
    """Centre the points and scale both axes by one factor so they span [-1, 1] on the wider axis."""
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(0), points.max(0)
    span = float((high - low).max()) / 2 or 1.0
    return (points - (low + high) / 2) / span


def build_style_map(space: StyleSpace, styles_dir: str | Path | None = None, method: str = "pca", seed: int = 0,
                    swatches: str | Path | None = None, on_skip: SkipCallback | None = None,
                    progress: Callable[[int, int], None] | None = None) -> StyleMap:
    """The paintings of ``space`` and the images of ``styles_dir``, projected together (module docstring)."""
    if method not in MAP_METHODS:
        raise PainterlyError(f"unknown projection {method!r}: use {', '.join(MAP_METHODS)}")
    items = painting_items(space, swatches)
    skipped: list[tuple[str, str]] = []
    if styles_dir is not None:
        extra, skipped = user_items(space, styles_dir, on_skip, progress)
        items += extra
    if not items:
        raise PainterlyError("the style space has no paintings and no images were given (--styles DIR)")
    points = normalise_points(project_codes(np.stack([i.code for i in items]), method, seed))
    return StyleMap(items, points, method, space.latent, str(space.path or ""), seed, skipped)


# --------------------------------------------------------------------------- HTML

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
html,body{height:100%}
body{font:13px system-ui,sans-serif;margin:0;color:#222;background:#fff;display:flex;flex-direction:column}
header{padding:8px 12px 6px;border-bottom:1px solid #ddd;display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center}
h1{font-size:15px;margin:0}
#about{color:#555}
#search{width:220px;padding:3px 6px}
#found{color:#555;min-width:70px}
button{font:inherit;padding:2px 9px;cursor:pointer}
.key{display:inline-flex;align-items:center;gap:4px;margin-right:8px;color:#444}
.key i{display:inline-block;width:11px;height:11px;border:2px solid #fff;box-shadow:0 0 0 1px #999}
.key i.held-out{border:2px dashed #e08a00;box-shadow:none}.key i.user{border-color:#1f77b4;box-shadow:none}
#bar{padding:5px 12px;border-bottom:1px solid #eee;min-height:24px;display:flex;gap:10px;align-items:center}
#command{background:#f3f3f3;padding:3px 7px;border-radius:3px;user-select:all}
#command:empty{display:none}
#map{position:relative;flex:1;overflow:hidden;cursor:grab;background:#f4f3ef;touch-action:none;user-select:none}
#map.dragging{cursor:grabbing}
#lines{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;overflow:visible}
.item{position:absolute;transform:translate(-50%,-50%);box-sizing:border-box;border:2px solid #fff;border-radius:3px;
  box-shadow:0 1px 3px rgba(0,0,0,.4);background:#fff;cursor:pointer}
.item img{width:100%;height:100%;object-fit:cover;display:block;pointer-events:none;image-rendering:auto}
.item.flat img{image-rendering:pixelated}
.item.held-out{border:2px dashed #e08a00}
.item.user{border-color:#1f77b4}
.item.dim{opacity:.15}
.item.match{outline:3px solid #d62728;outline-offset:1px;z-index:5}
.item.sel{outline:3px solid #2ca02c;outline-offset:1px;z-index:6;opacity:1}
.item[data-tag]::after{content:attr(data-tag);position:absolute;left:-9px;top:-9px;background:#2ca02c;color:#fff;
  font:bold 11px sans-serif;border-radius:8px;padding:1px 5px}
.item:hover{z-index:10;box-shadow:0 2px 8px rgba(0,0,0,.6)}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:4px 7px;display:none;
  z-index:20;max-width:360px;box-shadow:0 1px 4px rgba(0,0,0,.25)}
#tip b{display:block}
#tip span{color:#555}
</style></head><body>
<header>
<h1>__TITLE__</h1><span id="about">__ABOUT__</span>
<input id="search" type="search" placeholder="search a name" autocomplete="off" aria-label="search a name">
<span id="found"></span>
<span><button id="zoom-in" title="zoom in">+</button> <button id="zoom-out" title="zoom out">&minus;</button>
<button id="reset" title="back to the whole map">reset</button></span>
<span><span class="key"><i></i>painting (swatch)</span><span class="key"><i class="held-out"></i>held out</span>__USERKEY__</span>
</header>
<div id="bar"><span id="hint">Click two items for the command of a style path between them.</span>
<code id="command"></code><button id="copy" hidden>copy</button></div>
<div id="map"><svg id="lines"></svg>
__ITEMS__
</div>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
(function(){
const D=JSON.parse(document.getElementById('data').textContent);
const map=document.getElementById('map'),tip=document.getElementById('tip'),svg=document.getElementById('lines');
const els=Array.from(document.querySelectorAll('#map .item'));
const search=document.getElementById('search'),found=document.getElementById('found');
const command=document.getElementById('command'),hint=document.getElementById('hint'),copy=document.getElementById('copy');
let zoom=1,pan=[0,0],drag=null,moved=false,sel=[];
const ext=[0,1].map(k=>Math.max(1e-6,...D.items.map(p=>Math.abs(k?p.y:p.x))));
function scale(){const m=D.size*0.75+8;  // the largest zoom-1 scale that keeps every item inside the map
  return Math.max(10,Math.min((map.clientWidth/2-m)/ext[0],(map.clientHeight/2-m)/ext[1]))*zoom;}
function screen(i){const p=D.items[i],s=scale();return [map.clientWidth/2+pan[0]+p.x*s,map.clientHeight/2+pan[1]-p.y*s];}
function place(){
  const side=Math.round(D.size*Math.min(3,Math.sqrt(zoom)));
  els.forEach((el,i)=>{const q=screen(i);el.style.left=q[0].toFixed(1)+'px';el.style.top=q[1].toFixed(1)+'px';
    el.style.width=el.style.height=side+'px';});
  map.dataset.zoom=zoom.toFixed(4);
  lines();
}
function lines(){
  svg.innerHTML='';
  if(sel.length<2||!D.linear)return;
  const a=screen(sel[0]),b=screen(sel[1]);
  const l=document.createElementNS('http://www.w3.org/2000/svg','line');
  l.setAttribute('x1',a[0]);l.setAttribute('y1',a[1]);l.setAttribute('x2',b[0]);l.setAttribute('y2',b[1]);
  l.setAttribute('stroke','#2ca02c');l.setAttribute('stroke-width','2');l.setAttribute('stroke-dasharray','6 4');
  svg.appendChild(l);
}
function zoomBy(f,mx,my){
  const nz=Math.min(40,Math.max(0.2,zoom*f));f=nz/zoom;zoom=nz;
  mx=mx===undefined?0:mx-map.clientWidth/2;my=my===undefined?0:my-map.clientHeight/2;
  pan=[mx-(mx-pan[0])*f,my-(my-pan[1])*f];place();
}
function describe(i){
  const p=D.items[i];
  if(p.kind==='user')return 'your image: '+p.path;
  return (p.held_out?'held out: never trained on':'painting the style space was trained on')+(p.swatch?'':' (no swatch: flat colour)');
}
els.forEach((el,i)=>{
  el.addEventListener('mouseenter',()=>{tip.innerHTML='';const b=document.createElement('b');b.textContent=D.items[i].name;
    const s=document.createElement('span');s.textContent=describe(i);tip.append(b,s);tip.style.display='block';});
  el.addEventListener('mousemove',e=>{const w=tip.offsetWidth,h=tip.offsetHeight;
    tip.style.left=(e.clientX+14+w>innerWidth?e.clientX-14-w:e.clientX+14)+'px';
    tip.style.top=(e.clientY+14+h>innerHeight?e.clientY-14-h:e.clientY+14)+'px';});
  el.addEventListener('mouseleave',()=>{tip.style.display='none';});
  el.addEventListener('click',()=>{if(!moved)choose(i);});
});
function choose(i){
  if(sel.length===2)sel=[];
  const at=sel.indexOf(i);
  if(at>=0)sel.splice(at,1);else if(i>=0)sel.push(i);
  els.forEach(el=>{el.classList.remove('sel');el.removeAttribute('data-tag');});
  sel.forEach((j,k)=>{els[j].classList.add('sel');els[j].dataset.tag=k?'B':'A';});
  if(sel.length===2){
    command.textContent='painterly style-path photo.jpg '+D.items[sel[0]].arg+' '+D.items[sel[1]].arg;
    hint.textContent='A style path from A to B (replace photo.jpg with your photo):';copy.hidden=false;
  }else{
    command.textContent='';copy.hidden=true;
    hint.textContent=sel.length?'Now click a second item.':'Click two items for the command of a style path between them.';
  }
  lines();
}
copy.addEventListener('click',()=>{
  const r=document.createRange();r.selectNodeContents(command);const s=getSelection();s.removeAllRanges();s.addRange(r);
  try{navigator.clipboard.writeText(command.textContent).then(()=>{copy.textContent='copied';},()=>{});}catch(e){}
});
const norm=t=>t.toLowerCase().replace(/[\\s_\\-]+/g,' ').trim();
function highlight(){
  const q=norm(search.value);let hits=[];
  els.forEach((el,i)=>{const on=q&&norm(D.items[i].name).includes(q);el.classList.toggle('match',!!on);
    el.classList.toggle('dim',!!q&&!on);if(on)hits.push(i);});
  found.textContent=q?(hits.length?hits.length+' found':'no match'):'';
  return hits;
}
search.addEventListener('input',highlight);
search.addEventListener('keydown',e=>{if(e.key!=='Enter')return;const hits=highlight();if(!hits.length)return;
  const p=D.items[hits[0]];if(zoom<2)zoom=2;const s=scale();pan=[-p.x*s,p.y*s];place();});
map.addEventListener('mousedown',e=>{if(e.button!==0)return;drag=[e.clientX,e.clientY];moved=false;});
window.addEventListener('mousemove',e=>{if(!drag)return;const dx=e.clientX-drag[0],dy=e.clientY-drag[1];
  if(!moved&&Math.abs(dx)+Math.abs(dy)<4)return;moved=true;map.classList.add('dragging');tip.style.display='none';
  drag=[e.clientX,e.clientY];pan=[pan[0]+dx,pan[1]+dy];place();});
window.addEventListener('mouseup',()=>{drag=null;map.classList.remove('dragging');});
map.addEventListener('wheel',e=>{e.preventDefault();const r=map.getBoundingClientRect();
  zoomBy(e.deltaY<0?1.2:1/1.2,e.clientX-r.left,e.clientY-r.top);},{passive:false});
document.getElementById('zoom-in').onclick=()=>zoomBy(1.25);
document.getElementById('zoom-out').onclick=()=>zoomBy(1/1.25);
document.getElementById('reset').onclick=()=>{zoom=1;pan=[0,0];place();};
window.addEventListener('keydown',e=>{if(e.key==='Escape'&&document.activeElement!==search){sel=[];choose(-1);}});
window.addEventListener('resize',place);
place();
document.body.dataset.ready='true';
})();
</script></body></html>
"""


def _item_html(item: MapItem, index: int) -> str:
    classes = ["item", item.kind] + (["held-out"] if item.held_out else []) + ([] if item.swatch else ["flat"])
    name = html.escape(item.name, quote=True)
    return (f'<div class="{" ".join(classes)}" data-i="{index}" data-name="{name}" data-kind="{item.kind}">'
            f'<img alt="{name}" src="{item.data_uri()}"></div>')


def describe_map(style_map: StyleMap) -> str:
    paintings, user = style_map.paintings, style_map.user
    held = sum(i.held_out for i in paintings)
    text = f"{len(paintings)} paintings ({held} held out)"
    if user:
        text += f" and {len(user)} of your images"
    return text + f"; {AXIS_NAMES[style_map.method]} of the {style_map.latent}-d latent codes"


def style_map_html(style_map: StyleMap, title: str = "") -> str:
    """The self-contained interactive page (module docstring)."""
    data = {"method": style_map.method, "linear": style_map.method == "pca", "size": DISPLAY_SIZE,
            "items": [{"name": item.name, "kind": item.kind, "held_out": item.held_out, "swatch": item.swatch,
                       "path": item.path, "arg": item.argument, "x": round(float(x), 5), "y": round(float(y), 5)}
                      for item, (x, y) in zip(style_map.items, style_map.points)]}
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    user_key = '<span class="key"><i class="user"></i>your image</span>' if style_map.user else ""
    items = "\n".join(_item_html(item, i) for i, item in enumerate(style_map.items))
    page = _HTML.replace("__TITLE__", html.escape(title or "The style space"))
    page = page.replace("__ABOUT__", html.escape(describe_map(style_map))).replace("__USERKEY__", user_key)
    return page.replace("__ITEMS__", items).replace("__DATA__", text)


def write_style_map_html(style_map: StyleMap, path: str | Path, title: str = "") -> Path:
    return atomic_write_bytes(path, style_map_html(style_map, title).encode("utf-8"))


# --------------------------------------------------------------------------- static plot


def plot_style_map(style_map: StyleMap, path: str | Path, title: str = "") -> Path:
    """The map as a PNG (matplotlib): thumbnails at their positions, names in small print."""
    from PIL import Image

    from ..analysis.embedding_plot import require

    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure = Figure(figsize=(13.0, 12.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    points = style_map.points
    axes.scatter(points[:, 0], points[:, 1], s=1, alpha=0)
    pixels = float(np.clip(36.0 * np.sqrt(60.0 / len(points)), 24.0, 36.0))   # thumbnail side, px at dpi 100
    for item, (x, y) in zip(style_map.items, points):
        image = Image.open(io.BytesIO(item.thumbnail)).convert("RGB")
        image = image.resize((48, 48), Image.NEAREST if not item.swatch else Image.LANCZOS)
        colour = "#1f77b4" if item.kind == "user" else ("#e08a00" if item.held_out else "white")
        box = AnnotationBbox(OffsetImage(np.asarray(image), zoom=pixels / 48), (x, y), frameon=True, pad=0.12,
                             bboxprops={"edgecolor": colour, "linewidth": 1.6,
                                        "linestyle": "--" if item.held_out else "-"})
        axes.add_artist(box)
        axes.annotate(item.name, (x, y), xytext=(0, -pixels / 2 - 6), textcoords="offset points", ha="center",
                      fontsize=4.5, color="#1f77b4" if item.kind == "user" else "#333")
    axes.set_xlim(-1.12, 1.12)
    axes.set_ylim(-1.12, 1.12)
    axes.set_aspect("equal")
    axis = AXIS_NAMES[style_map.method]
    axes.set_xlabel(f"{axis} 1")
    axes.set_ylabel(f"{axis} 2")
    key = "dashed orange: held out (never trained on)" + ("; blue: your images" if style_map.user else "")
    axes.set_title(title or f"The style space: {describe_map(style_map)}\n{key}", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["MAP_METHODS", "MapItem", "StyleMap", "build_style_map", "painting_items", "user_items", "image_files",
           "project_codes", "normalise_points", "style_map_html", "write_style_map_html", "plot_style_map",
           "describe_map", "flat_thumbnail"]
