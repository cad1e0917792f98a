/* The HTML report: one static, self-contained page from one run folder or
 * from a folder of run folders (docs/report.md, docs/formats.md). Images go
 * in as data: URIs and the stability curve as inline SVG, so the page opens
 * from anywhere, offline, and can be mailed as one file. */
#include "run_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define MAX_JSON_BYTES (64u << 20)
#define MAX_PNG_BYTES (512u << 20)

/* ---- a growing string ---------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
  if (b->oom) return;
  if (b->n + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + len + 1) {
      if (cap > SIZE_MAX / 2) {
        b->oom = 1;
        return;
      }
      cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof buf) {
    sb_put(b, buf, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

/* Text into HTML (element content or a quoted attribute). */
static void sb_esc(sbuf *b, const char *s) {
  if (!s) return;
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '&': sb_puts(b, "&amp;"); break;
    case '<': sb_puts(b, "&lt;"); break;
    case '>': sb_puts(b, "&gt;"); break;
    case '"': sb_puts(b, "&quot;"); break;
    case '\'': sb_puts(b, "&#39;"); break;
    default: sb_put(b, p, 1);
    }
  }
}

static void sb_base64(sbuf *b, const unsigned char *d, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char q[4];
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
    q[0] = tab[v >> 18], q[1] = tab[v >> 12 & 63], q[2] = tab[v >> 6 & 63], q[3] = tab[v & 63];
    sb_put(b, q, 4);
  }
  if (i < n) {
    unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
    q[0] = tab[v >> 18], q[1] = tab[v >> 12 & 63];
    q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=', q[3] = '=';
    sb_put(b, q, 4);
  }
}

/* ---- files ------------------------------------------------------------------ */

static char *join(const char *dir, const char *name) {
  if (name[0] == '/') dir = "";
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = csm_malloc(n);
  if (p) snprintf(p, n, "%s%s%s", dir, *dir ? "/" : "", name);
  return p;
}

/* Whole file; a missing or unreadable one is CSM_EINPUT naming it (it was
 * named by a run.json, so it is a fault of the input). */
static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- runs ----------------------------------------------------------------- */

typedef struct run {
  char *dir, *name, *json_path;
  cJSON *json;
} run;

typedef struct report {
  run *runs;
  int n, cap;
} report;

static void report_free(report *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->runs[i].dir), free(r->runs[i].name), free(r->runs[i].json_path);
    cJSON_Delete(r->runs[i].json);
  }
  free(r->runs);
}

static csm_status add_run(report *r, const char *dir, const char *name) {
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 8;
    run *p = realloc(r->runs, (size_t)cap * sizeof *p);
    if (!p) return csm_fail(CSM_ENOMEM, "out of memory");
    r->runs = p, r->cap = cap;
  }
  run *u = &r->runs[r->n];
  memset(u, 0, sizeof *u);
  u->dir = strdup(dir), u->name = strdup(name), u->json_path = join(dir, "run.json");
  r->n++;
  if (!u->dir || !u->name || !u->json_path) return csm_fail(CSM_ENOMEM, "out of memory");
  char path[PATH_MAX];
  return csm_run_folder_read(dir, path, sizeof path, &u->json);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir itself, or each immediate sub-folder with a run.json, by name. */
static csm_status find_runs(const char *dir, report *r) {
  char *top = join(dir, "run.json");
  if (!top) return CSM_ENOMEM;
  int single = is_file(top);
  free(top);
  if (single) {
    char real[PATH_MAX];
    const char *name = realpath(dir, real) ? real : dir;
    const char *slash = strrchr(name, '/');
    return add_run(r, dir, slash && slash[1] ? slash + 1 : name);
  }
  DIR *d = opendir(dir);
  if (!d) return csm_fail(CSM_EINPUT, "%s: cannot read the folder: %s", dir, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  csm_status st = CSM_OK;
  struct dirent *e;
  while (!st && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *sub = join(dir, e->d_name), *js = sub ? join(sub, "run.json") : NULL;
    if (!js) st = CSM_ENOMEM;
    if (!st && is_dir(sub) && is_file(js)) {
      char **p = n == cap ? realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *p) : names;
      if (p) names = p;
      if (!p || !(names[n] = strdup(e->d_name)))
        st = csm_fail(CSM_ENOMEM, "out of memory");
      else
        n++;
    }
    free(sub), free(js);
  }
  closedir(d);
  if (!st && n == 0) st = csm_fail(CSM_EINPUT, "no run.json in %s or its sub-folders", dir);
  if (!st) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; !st && i < n; i++) {
    char *sub = join(dir, names[i]);
    st = sub ? add_run(r, sub, names[i]) : CSM_ENOMEM;
    free(sub);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return st;
}

/* ---- JSON fields ------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A string field, NULL when absent or null; another type is an error. */
static csm_status get_str(const run *u, const cJSON *o, const char *key, const char **out) {
  const cJSON *v = get(o, key);
  *out = NULL;
  if (!v || cJSON_IsNull(v)) return CSM_OK;
  if (!cJSON_IsString(v))
    return csm_fail(CSM_EINPUT, "%s: \"%s\" must be a string", u->json_path, key);
  *out = v->valuestring;
  return CSM_OK;
}

/* A JSON value as table text. */
static void sb_value(sbuf *b, const cJSON *v) {
  if (!v || cJSON_IsNull(v)) {
    sb_puts(b, "&ndash;");
  } else if (cJSON_IsString(v)) {
    sb_esc(b, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    sb_printf(b, "%.6g", v->valuedouble);
  } else if (cJSON_IsBool(v)) {
    sb_puts(b, cJSON_IsTrue(v) ? "true" : "false");
  } else {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) b->oom = 1;
    sb_esc(b, s);
    free(s);
  }
}

/* Pictures wider than they are shown are embedded at the shown width (2x
 * for the thumbnails that enlarge on hover): full-resolution photos would
 * make the page hundreds of megabytes. */
static int shown_width(const char *cls) {
  if (!strcmp(cls, "thumb")) return 360;
  if (!strcmp(cls, "reproj")) return 960;
  return 1024;
}

/* Photos (the reprojections) go in as JPEG: a tenth of the PNG's size. */
static int is_photo(const char *cls) { return !strcmp(cls, "reproj"); }

static csm_status shrink_png(const char *path, const char *cls, unsigned char **png, size_t *len) {
  const unsigned char *p = *png;
  long w = (long)p[16] << 24 | (long)p[17] << 16 | (long)p[18] << 8 | p[19];
  long h = (long)p[20] << 24 | (long)p[21] << 16 | (long)p[22] << 8 | p[23];
  int max = shown_width(cls);
  if (w <= 0 || h <= 0) return csm_fail(CSM_EINPUT, "%s: PNG of %ldx%ld pixels", path, w, h);
  if (w <= max && !is_photo(cls)) return CSM_OK;
  if (w < max) max = (int)w;
  csm_image img = {0}, small = {0};
  unsigned char *data = NULL;
  size_t n = 0;
  int sh = (int)(h * max / w);
  csm_status st = csm_image_load(path, &img);
  if (!st) st = csm_image_resize(&img, max, sh > 0 ? sh : 1, CSM_RESIZE_AREA, &small);
  if (!st && is_photo(cls))
    st = csm_image_encode_jpeg(&small, 85, &data, &n);
  else if (!st)
    st = csm_image_encode_png(&small, &data, &n);
  csm_image_free(&img);
  csm_image_free(&small);
  if (st) return csm_fail_context(st, "%s: ", path);
  free(*png);
  *png = data, *len = n;
  return CSM_OK;
}

/* <img> with the PNG named by key (relative to the run folder) inline.
 * Absent key: nothing, *shown stays. */
static csm_status sb_img(sbuf *b, const run *u, const cJSON *o, const char *key, const char *cls,
                         const char *alt, int *shown) {
  const char *rel;
  csm_status st = get_str(u, o, key, &rel);
  if (st || !rel) return st;
  char *path = join(u->dir, rel);
  if (!path) return CSM_ENOMEM;
  unsigned char *png;
  size_t len;
  st = csm_read_file(path, MAX_PNG_BYTES, (char **)&png, &len);
  if (!st && (len < 24 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0))
    st = csm_fail(CSM_EINPUT, "%s: not a PNG file", path);
  if (!st) st = shrink_png(path, cls, &png, &len);
  if (!st) {
    sb_printf(b, "<img class=\"%s\" alt=\"", cls);
    sb_esc(b, alt);
    sb_puts(b, "\" title=\"");
    sb_esc(b, rel);
    sb_printf(b, "\" src=\"data:image/%s;base64,", is_photo(cls) ? "jpeg" : "png");
    sb_base64(b, png, len);
    sb_puts(b, "\">");
    if (shown) (*shown)++;
  } else {
    csm_fail_context(st, "%s names ", u->json_path);
  }
  free(png);
  free(path);
  return st;
}

/* ---- stability -------------------------------------------------------------- */

typedef struct curve {
  double *x, *y;
  int n;
} curve;

static csm_status read_stability(const run *u, const char *rel, curve *c) {
  memset(c, 0, sizeof *c);
  char *path = join(u->dir, rel);
  if (!path) return CSM_ENOMEM;
  char *text;
  size_t len;
  csm_status st = csm_read_file(path, MAX_JSON_BYTES, &text, &len);
  if (st) {
    csm_fail_context(st, "%s names ", u->json_path);
    free(path);
    return st;
  }
  int lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  c->x = malloc((size_t)lines * sizeof *c->x), c->y = malloc((size_t)lines * sizeof *c->y);
  if (!c->x || !c->y) st = csm_fail(CSM_ENOMEM, "out of memory");
  char *p = (char *)text;
  for (int line = 1; !st && *p; line++) {
    char *end = strchr(p, '\n');
    if (end) *end = '\0';
    size_t l = strlen(p);
    if (l && p[l - 1] == '\r') p[--l] = '\0';
    if (line == 1) {
      if (strncmp(p, "images", 6) != 0)
        st = csm_fail(CSM_EINPUT, "%s: line 1: want the header images,correlation", path);
    } else if (l) {
      char *e1, *e2;
      double x = strtod(p, &e1), y = *e1 == ',' ? strtod(e1 + 1, &e2) : 0;
      if (*e1 != ',' || e2 == e1 + 1 || *e2 != '\0')
        st = csm_fail(CSM_EINPUT, "%s: line %d: want images,correlation", path, line);
      else if (isfinite(x) && isfinite(y) && x >= 1)
        c->x[c->n] = x, c->y[c->n++] = y;
    }
    if (!end) break;
    p = end + 1;
  }
  free(text);
  free(path);
  return st;
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

/* One plot, one line per run; x on a log scale. */
static void sb_stability_svg(sbuf *b, const report *r, const curve *cs) {
  const double W = 640, H = 300, L = 56, R = 16, T = 16, B = 44;
  double xmin = INFINITY, xmax = -INFINITY, ymin = 0;
  for (int i = 0; i < r->n; i++)
    for (int k = 0; k < cs[i].n; k++) {
      if (cs[i].x[k] < xmin) xmin = cs[i].x[k];
      if (cs[i].x[k] > xmax) xmax = cs[i].x[k];
      if (cs[i].y[k] < 0) ymin = -1;
    }
  if (!(xmax > xmin)) xmax = xmin * 10;
  const double lx0 = log10(xmin), lx1 = log10(xmax);
#define PX(v) (L + (log10(v) - lx0) / (lx1 - lx0) * (W - L - R))
  sb_printf(b,
            "<svg class=\"plot\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
            W, H, W, H);
  sb_printf(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>", L, T,
            W - L - R, H - T - B);
  const double step = ymin < 0 ? 0.5 : 0.25;
  for (double v = ymin; v <= 1 + 1e-9; v += step) {
    double y = T + (1 - (v - ymin) / (1 - ymin)) * (H - T - B);
    sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", L, W - R,
              y, y);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2g</text>", L - 6, y + 4, v);
  }
  for (double t = pow(10, ceil(lx0 - 1e-9)); t <= xmax * (1 + 1e-9); t *= 10) {
    double x = PX(t);
    sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x, T,
              H - B);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>", x, H - B + 16,
              t);
  }
  /* The last count too, unless a power of ten is next to it. */
  double last = pow(10, floor(log10(xmax) + 1e-9));
  if (xmax / last > 2)
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>", PX(xmax),
              H - B + 16, xmax);
  sb_printf(b,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">images (log scale)</text>"
            "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">"
            "correlation with the final CMS</text>",
            (L + W - R) / 2, H - 8, (T + H - B) / 2, (T + H - B) / 2);
  for (int i = 0, shown = 0; i < r->n; i++) {
    if (!cs[i].n) continue;
    const char *col = palette[shown++ % (sizeof palette / sizeof *palette)];
    sb_printf(b, "<g><title>");
    sb_esc(b, r->runs[i].name);
    sb_printf(b, "</title><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
    for (int k = 0; k < cs[i].n; k++) {
      double v = cs[i].y[k] > 1 ? 1 : cs[i].y[k];
      sb_printf(b, "%s%.1f,%.1f", k ? " " : "", PX(cs[i].x[k]),
                T + (1 - (v - ymin) / (1 - ymin)) * (H - T - B));
    }
    sb_puts(b, "\"/></g>");
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">", L + 10,
              H - B - 10 - 16.0 * (shown - 1), col);
    sb_esc(b, r->runs[i].name);
    sb_puts(b, "</text>");
  }
#undef PX
  sb_puts(b, "</svg>");
}

/* ---- the page --------------------------------------------------------------- */

static const char *css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;"
    "background:#fff}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:2px 8px;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:600}"
    ".row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
    ".run{flex:0 1 auto}figure{margin:0}figcaption{font-size:.85em;color:#444}"
    "img.cms{width:384px;max-width:100%;height:auto;image-rendering:pixelated}"
    "img.reproj{width:480px;max-width:100%;height:auto}"
    ".faces{display:flex;flex-wrap:wrap;gap:12px}.face{border:1px solid #ddd;padding:4px}"
    "img.thumb{width:144px;height:144px;object-fit:contain;background:#eee;margin-right:2px;"
    "transition:transform .1s;transform-origin:top left}"
    "img.thumb:hover{transform:scale(2.5);position:relative;z-index:2;box-shadow:0 0 8px #888}"
    "details{margin:8px 0}summary{cursor:pointer;font-weight:600}"
    "svg.plot text{font-size:11px;fill:#333}svg.plot .grid{stroke:#e4e4e4}"
    "svg.plot .frame{fill:none;stroke:#999}.muted{color:#777}";

static csm_status sb_run_table(sbuf *b, const run *u) {
  const cJSON *j = u->json, *faces = get(j, "faces"), *fails = get(j, "failures");
  const cJSON *cms = get(j, "cms"), *params = get(j, "parameters");
  sb_puts(b, "<div class=\"run\"><h3>");
  sb_esc(b, u->name);
  sb_puts(b, "</h3><table>");
  static const char *keys[] = {"command", "task", "model", "class"};
  for (int k = 0; k < 4; k++) {
    sb_printf(b, "<tr><th>%s</th><td>", keys[k]);
    const cJSON *v = get(j, keys[k]);
    if (!strcmp(keys[k], "class") && (!v || cJSON_IsNull(v)))
      sb_puts(b, "each face&#39;s predicted class");
    else
      sb_value(b, v);
    sb_puts(b, "</td></tr>");
  }
  if (cJSON_IsObject(cms)) {
    sb_puts(b, "<tr><th>images</th><td>");
    sb_value(b, get(cms, "images"));
    sb_puts(b, "</td></tr>");
  }
  sb_printf(b, "<tr><th>faces</th><td>%d</td></tr><tr><th>failures</th><td>%d</td></tr>",
            cJSON_GetArraySize(faces), cJSON_GetArraySize(fails));
  const cJSON *secs = get(j, "seconds");
  if (cJSON_IsNumber(secs))
    sb_printf(b, "<tr><th>seconds</th><td>%.1f</td></tr>", secs->valuedouble);
  if (cJSON_IsObject(params)) {
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
      sb_puts(b, "<tr><th>");
      sb_esc(b, p->string);
      sb_puts(b, "</th><td>");
      sb_value(b, p);
      sb_puts(b, "</td></tr>");
    }
  }
  sb_puts(b, "<tr><th>csm</th><td>");
  sb_value(b, get(j, "csm_version"));
  sb_puts(b, "</td></tr></table></div>");
  return CSM_OK;
}

static csm_status sb_faces(sbuf *b, const run *u) {
  const cJSON *faces = get(u->json, "faces"), *f;
  int n = cJSON_GetArraySize(faces);
  sb_printf(b, "<details%s><summary>", n <= 12 ? " open" : "");
  sb_esc(b, u->name);
  sb_printf(b, ": %d face%s</summary><div class=\"faces\">", n, n == 1 ? "" : "s");
  csm_status st = CSM_OK;
  cJSON_ArrayForEach(f, faces) {
    if (!cJSON_IsObject(f))
      return csm_fail(CSM_EINPUT, "%s: \"faces\" entries must be objects", u->json_path);
    const char *image, *label, *conf;
    if ((st = get_str(u, f, "image", &image)) || (st = get_str(u, f, "label", &label)) ||
        (st = get_str(u, f, "confidence", &conf)))
      return st;
    sb_puts(b, "<figure class=\"face\"><div>");
    if ((st = sb_img(b, u, f, "cis_png", "thumb", "CIS", NULL)) ||
        (st = sb_img(b, u, f, "input_png", "thumb", "input-space map", NULL)) ||
        (st = sb_img(b, u, f, "reprojection_png", "thumb", "CMS reprojected", NULL)))
      return st;
    sb_puts(b, "</div><figcaption>");
    sb_esc(b, image ? image : "?");
    const cJSON *k = get(f, "face"), *base = get(f, "base");
    if (cJSON_IsNumber(k)) sb_printf(b, ", face %d", k->valueint);
    sb_puts(b, "<br>");
    sb_esc(b, label ? label : "");
    if (cJSON_IsNumber(base)) {
      sb_puts(b, " &middot; ");
      sb_esc(b, conf ? conf : "confidence");
      sb_printf(b, " = %.3g", base->valuedouble);
    }
    sb_puts(b, "</figcaption></figure>");
  }
  sb_puts(b, "</div></details>");
  return CSM_OK;
}

/* "reprojections": [{"image", "png"}]: the CMS pulled back onto photos. */
static csm_status sb_reprojections(sbuf *b, const run *u) {
  const cJSON *list = get(u->json, "reprojections"), *e;
  if (!list) return CSM_OK;
  if (!cJSON_IsArray(list))
    return csm_fail(CSM_EINPUT, "%s: \"reprojections\" must be an array", u->json_path);
  sb_puts(b, "<h3>");
  sb_esc(b, u->name);
  sb_puts(b, "</h3><div class=\"row\">");
  cJSON_ArrayForEach(e, list) {
    const char *image;
    csm_status st;
    if (!cJSON_IsObject(e))
      return csm_fail(CSM_EINPUT, "%s: \"reprojections\" entries must be objects", u->json_path);
    if ((st = get_str(u, e, "image", &image))) return st;
    sb_puts(b, "<figure class=\"reproj\">");
    if ((st = sb_img(b, u, e, "png", "reproj", "CMS reprojected", NULL))) return st;
    sb_puts(b, "<figcaption>");
    sb_esc(b, image ? image : "?");
    sb_puts(b, "</figcaption></figure>");
  }
  sb_puts(b, "</div>\n");
  return CSM_OK;
}

static csm_status sb_failures(sbuf *b, const run *u) {
  const cJSON *fails = get(u->json, "failures"), *f;
  sb_puts(b, "<div class=\"run\"><h3>");
  sb_esc(b, u->name);
  sb_puts(b, "</h3>");
  if (cJSON_GetArraySize(fails) == 0) {
    sb_puts(b, "<p class=\"muted\">none</p></div>");
    return CSM_OK;
  }
  sb_puts(b, "<ul>");
  cJSON_ArrayForEach(f, fails) {
    const char *image, *reason;
    csm_status st;
    if (!cJSON_IsObject(f))
      return csm_fail(CSM_EINPUT, "%s: \"failures\" entries must be objects", u->json_path);
    if ((st = get_str(u, f, "image", &image)) || (st = get_str(u, f, "reason", &reason))) return st;
    sb_puts(b, "<li><b>");
    sb_esc(b, image ? image : "?");
    sb_puts(b, "</b>: ");
    sb_esc(b, reason ? reason : "");
    sb_puts(b, "</li>");
  }
  sb_puts(b, "</ul></div>");
  return CSM_OK;
}

static csm_status build(sbuf *b, const char *dir, const report *r, curve *cs) {
  csm_status st = CSM_OK;
  for (int i = 0; i < r->n; i++) {
    const cJSON *j = r->runs[i].json, *v;
    static const char *arrays[] = {"faces", "failures"};
    for (int k = 0; k < 2; k++)
      if ((v = get(j, arrays[k])) && !cJSON_IsArray(v))
        return csm_fail(CSM_EINPUT, "%s: \"%s\" must be an array", r->runs[i].json_path, arrays[k]);
    const cJSON *cms = get(j, "cms");
    if (cms && !cJSON_IsNull(cms) && !cJSON_IsObject(cms))
      return csm_fail(CSM_EINPUT, "%s: \"cms\" must be an object", r->runs[i].json_path);
  }
  sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             "<title>csm report: ");
  sb_esc(b, dir);
  sb_printf(b, "</title><style>%s</style></head><body>\n<h1>Canonical saliency report</h1>", css);
  sb_puts(b, "<p class=\"muted\">");
  sb_esc(b, dir);
  sb_printf(b, ": %d run%s</p>\n<h2>Runs</h2><div class=\"row\">", r->n, r->n == 1 ? "" : "s");
  for (int i = 0; i < r->n; i++)
    sb_run_table(b, &r->runs[i]);
  sb_puts(b, "</div>\n");

  int n_cms = 0, n_curves = 0;
  for (int i = 0; i < r->n; i++)
    n_cms += cJSON_IsObject(get(r->runs[i].json, "cms"));
  if (n_cms) {
    sb_puts(b, "<h2>Canonical model saliency</h2><div class=\"row\">");
    for (int i = 0; i < r->n && !st; i++) {
      const run *u = &r->runs[i];
      const cJSON *cms = get(u->json, "cms");
      if (!cJSON_IsObject(cms)) continue;
      const char *task, *stab;
      if ((st = get_str(u, u->json, "task", &task)) || (st = get_str(u, cms, "stability", &stab)))
        break;
      sb_puts(b, "<figure class=\"run\">");
      int shown = 0;
      if ((st = sb_img(b, u, cms, "png", "cms", "CMS", &shown))) break;
      if (!shown) sb_puts(b, "<p class=\"muted\">no CMS image</p>");
      sb_puts(b, "<figcaption>");
      sb_esc(b, u->name);
      if (task && strcmp(task, u->name)) {
        sb_puts(b, " &middot; ");
        sb_esc(b, task);
      }
      const cJSON *imgs = get(cms, "images");
      if (cJSON_IsNumber(imgs)) sb_printf(b, " &middot; %d images", imgs->valueint);
      sb_puts(b, "</figcaption></figure>");
      if (stab && (st = read_stability(u, stab, &cs[i]))) break;
      n_curves += cs[i].n > 0;
    }
    sb_puts(b, "</div>\n");
    if (st) return st;
  }
  if (n_curves) {
    sb_puts(b, "<h2>Stability</h2><p class=\"muted\">Correlation of the running CMS after that "
               "many images with the final CMS.</p>");
    sb_stability_svg(b, r, cs);
    sb_puts(b, "\n");
  }
  int n_reproj = 0;
  for (int i = 0; i < r->n; i++)
    n_reproj += get(r->runs[i].json, "reprojections") != NULL;
  if (n_reproj) {
    sb_puts(b, "<h2>CMS reprojected onto the photos</h2><p class=\"muted\">Each task's model "
               "map pulled back onto every face through its alignment (csm reproject).</p>");
    for (int i = 0; i < r->n; i++)
      if ((st = sb_reprojections(b, &r->runs[i]))) return st;
  }
  sb_puts(b, "<h2>Failures</h2><div class=\"row\">");
  for (int i = 0; i < r->n; i++)
    if ((st = sb_failures(b, &r->runs[i]))) return st;
  sb_puts(b, "</div>\n<h2>Faces</h2><p class=\"muted\">Per face: its CIS on the canonical face, "
             "the same map in the input image, and (cms runs) the CMS reprojected onto it.</p>");
  for (int i = 0; i < r->n; i++)
    if ((st = sb_faces(b, &r->runs[i]))) return st;
  sb_puts(b, "\n</body></html>\n");
  return CSM_OK;
}

csm_status csm_report_html(const char *dir, const char *out_path) {
  if (!dir || !*dir || !out_path || !*out_path)
    return csm_fail(CSM_EUSAGE, "csm_report_html: no folder or no output path");
  struct stat sb;
  if (stat(dir, &sb) != 0) return csm_fail(CSM_EINPUT, "%s: %s", dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode)) return csm_fail(CSM_EINPUT, "%s: not a folder", dir);
  report r = {0};
  sbuf b = {0};
  curve *cs = NULL;
  csm_status st = find_runs(dir, &r);
  if (!st && !(cs = calloc((size_t)r.n, sizeof *cs))) st = csm_fail(CSM_ENOMEM, "out of memory");
  if (!st) st = build(&b, dir, &r, cs);
  if (!st && b.oom) st = csm_fail(CSM_ENOMEM, "%s: out of memory building the page", out_path);
  if (!st) st = csm_write_file_atomic(out_path, b.p, b.n);
  for (int i = 0; cs && i < r.n; i++)
    free(cs[i].x), free(cs[i].y);
  free(cs);
  free(b.p);
  report_free(&r);
  return st;
}
