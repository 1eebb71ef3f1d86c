/* gridgeo workbench: the page over /api (no framework, Leaflet only). */
"use strict";
(function () {
  const T = {
    zh: { title: "网格规划工作台", move: "移入所选网格", merge: "合并网格", split: "拆分网格",
      lock: "锁定", unlock: "解锁", rebalance: "重新平衡其余网格", undo: "撤销", redo: "重做",
      save: "保存版本", geojson: "导出 GeoJSON", gpkg: "导出 GeoPackage", shp: "Shapefile (zip)", pdf: "网格划分区域图 PDF", png: "区域图 PNG", csv: "人员配置 CSV", audit: "覆盖审核 CSV",
      setnote: "写备注", note: "网格备注", grid: "网格", hh: "户数", bld: "楼栋", dev: "偏差",
      workers: "网格员", locked: "锁定", edited: "已改", why: "说明", versions: "版本", open: "打开",
      revert: "恢复", compare: "与最新版比较", bmoved: "栋楼换了网格", selected: "已选楼栋", households: "户", saved: "已保存版本",
      pickGrid: "请在表格或地图上选择目标网格", pickBuildings: "请先点击选择楼栋",
      two: "请选择两个网格（Shift+点击）", moved: "已移动", conflict: "保存冲突：",
      lasso: "套索选择", brush: "画笔选择", brushOn: "在地图上按住鼠标刷过楼栋", lassoOn: "在地图上按住鼠标画出范围", lassoGrids: "套索跨多个网格，只保留网格", lassoNone: "套索内没有楼栋",
      colourBy: "着色", byDeviation: "按偏差", byNeighbours: "按相邻", basemap: "底图", streets: "街道", buildings: "楼栋",
      bm_none: "无（离线）", bm_osm: "OpenStreetMap", "bm_tianditu-vec": "天地图 矢量", "bm_tianditu-img": "天地图 影像",
      openPlan: "打开方案", planFile: "方案文件（GeoPackage / zip）", buildingsFile: "楼栋图层（城市自有网格时）",
      hhColumn: "户数字段", upload: "上传并打开", newPartition: "新建划分（上传街道和楼栋图层）",
      layersFile: "图层（GeoPackage / zip）", target: "目标户数", runPartition: "开始划分",
      noPlan: "尚未打开方案：请从下面选择或上传", noSources: "数据目录中没有方案", opened: "已打开",
      jobRunning: "划分中", jobFailed: "划分失败：", tokenNeeded: "需要 API 令牌：",
      compareLabel: "比较", compareBtn: "比较", clearDiff: "清除差异", current: "当前方案",
      kind_job: "划分任务", kind_plan: "方案", kind_upload: "上传",
      "too few households": "户数过少", "too many households": "户数过多", "one building over the band": "单栋楼超出上限",
      reason_single_building: "单栋楼超上限", reason_dedicated_zone: "专属网格", reason_rural_village: "整村一格",
      reason_no_households: "所属社区无住户", reason_enclosed_land: "障碍围合地块", reason_small_community: "社区户数不足",
      reason_community_size: "社区户数无法均分", reason_locked: "已锁定", reason_beyond_reach: "调整范围内无解" },
    en: { title: "Grid workbench", move: "Move to selected grid", merge: "Merge grids", split: "Split grid",
      lock: "Lock", unlock: "Unlock", rebalance: "Rebalance the rest", undo: "Undo", redo: "Redo",
      save: "Save version", geojson: "Export GeoJSON", gpkg: "Export GeoPackage", shp: "Shapefile (zip)", pdf: "Print map PDF", png: "Print map PNG", csv: "Staffing CSV", audit: "Coverage audit CSV",
      setnote: "Set note", note: "note on the grid", grid: "Grid", hh: "Households", bld: "Bldgs", dev: "Dev.",
      workers: "Workers", locked: "Locked", edited: "Edited", why: "Why", versions: "Versions", open: "open",
      revert: "revert", compare: "compare with latest", bmoved: "buildings changed grid", selected: "selected buildings", households: "households", saved: "saved version",
      pickGrid: "select the target grid in the table or on the map", pickBuildings: "click buildings first",
      two: "select two grids (shift-click)", moved: "moved", conflict: "conflict: ",
      lasso: "Lasso", brush: "Brush", brushOn: "hold the mouse down and brush over buildings", lassoOn: "hold the mouse down and draw around buildings", lassoGrids: "the lasso spans several grids; kept grid", lassoNone: "no buildings in the lasso",
      colourBy: "Colour", byDeviation: "by deviation", byNeighbours: "by neighbours", basemap: "Basemap", streets: "streets", buildings: "buildings",
      bm_none: "none (offline)", bm_osm: "OpenStreetMap", "bm_tianditu-vec": "Tianditu map", "bm_tianditu-img": "Tianditu imagery",
      openPlan: "Open a plan", planFile: "plan (GeoPackage / zip)", buildingsFile: "buildings (for a city's own grids)",
      hhColumn: "households column", upload: "Upload and open", newPartition: "New partition (upload streets and buildings)",
      layersFile: "layers (GeoPackage / zip)", target: "target households", runPartition: "Partition",
      noPlan: "no plan open: pick one below or upload one", noSources: "no plans in the data directory", opened: "opened",
      jobRunning: "partitioning", jobFailed: "partition failed: ", tokenNeeded: "API token needed: ",
      compareLabel: "Compare", compareBtn: "Compare", clearDiff: "Clear", current: "current plan",
      kind_job: "partition job", kind_plan: "plan", kind_upload: "upload",
      "too few households": "too few households", "too many households": "too many households", "one building over the band": "one building over the band",
      reason_single_building: "one building over the band", reason_dedicated_zone: "dedicated grid", reason_rural_village: "village (rural rule)",
      reason_no_households: "community without households", reason_enclosed_land: "enclosed land", reason_small_community: "community too small",
      reason_community_size: "community cannot share in band", reason_locked: "locked", reason_beyond_reach: "beyond reach of a redraw" },
  };
  const PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5"];
  const wb = { lang: "zh", state: null, selB: [], selG: [], sortKey: "label", sortUp: true, busy: 0,
    diff: [], colourBy: "deviation", tool: null, lasso: false, brush: false, versions: [] };
  window.wb = wb;
  const $ = (id) => document.getElementById(id);
  const t = (k) => T[wb.lang][k] || k;
  const map = L.map("map", { preferCanvas: false, zoomSnap: 0.25 });
  let gridLayer = null, labelLayer = L.layerGroup().addTo(map), bLayer = null, bIndex = [], bCentre = [];
  let streetLayer = null, diffLayer = null, baseLayers = [], basemapList = [], lassoLine = null;
  let bHouseholds = [], nbColour = {};

  function say(text, kind) { const m = $("msg"); m.textContent = text; m.className = kind || ""; }
  function headers() {
    const tok = sessionStorage.getItem("gridgeo-token"), out = tok ? { Authorization: "Bearer " + tok } : {};
    // the plan this page shows: the server refuses (409) if another one is open now
    if (wb.state && wb.state.open) out["X-Workbench-Plan"] = encodeURIComponent(wb.state.plan);
    return out;
  }
  function askToken() { $("token").hidden = false; $("tokenvalue").focus(); }
  $("tokenok").onclick = () => { sessionStorage.setItem("gridgeo-token", $("tokenvalue").value.trim()); $("token").hidden = true; start(); };

  async function request(url, init) {
    wb.busy++;
    try {
      init = init || {};
      init.headers = Object.assign({}, init.headers || {}, headers());
      const r = await fetch(url, init);
      const type = r.headers.get("content-type") || "";
      const data = type.includes("json") ? await r.json() : await r.blob();
      if (!r.ok) {
        if (r.status === 401) askToken();
        const e = new Error((data && data.detail) || r.statusText); e.status = r.status; throw e;
      }
      return data;
    } finally { wb.busy--; }
  }
  function api(path, body) {
    return request("api/" + path, body === undefined ? {} :
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  wb.api = api;

  // -- colours, labels --------------------------------------------------------------
  function neighbourColours() {
    nbColour = {};
    const feats = wb.state.grids.features.slice().sort((a, b) =>
      b.properties.neighbours.length - a.properties.neighbours.length);
    for (const f of feats) {
      const used = new Set(f.properties.neighbours.map((g) => nbColour[g]));
      let c = 0; while (used.has(c)) c++;
      nbColour[f.properties.grid_id] = c;
    }
  }
  function colour(p) {
    if (wb.colourBy === "neighbours") return PALETTE[nbColour[p.grid_id] % PALETTE.length];
    if (p.locked) return "#607d8b";
    const d = p.deviation, tol = wb.state.tolerance;
    if (d < -tol) return d < -2 * tol ? "#2c7bb6" : "#abd9e9";
    if (d > tol) return d > 2 * tol ? "#d7191c" : "#fdae61";
    return "#a6d96a";
  }
  function label(p) { return p.code || p.grid_id; }

  // -- drawing ----------------------------------------------------------------------
  function drawGrids() {
    const s = wb.state;
    if (gridLayer) map.removeLayer(gridLayer);
    labelLayer.clearLayers();
    neighbourColours();
    gridLayer = L.geoJSON(s.grids, {
      style: (f) => ({ className: "wb-grid", color: wb.selG.includes(f.properties.grid_id) ? "#000" : "#444",
        weight: wb.selG.includes(f.properties.grid_id) ? 3 : 1, fillColor: colour(f.properties), fillOpacity: 0.45,
        dashArray: f.properties.locked ? "4 3" : null }),
      onEachFeature: (f, layer) => {
        layer.on("click", (e) => { pickGrid(f.properties.grid_id, e.originalEvent.shiftKey); });
        const c = layer.getBounds().getCenter();
        L.marker(c, { interactive: false, icon: L.divIcon({ className: "wb-label",
          html: label(f.properties) + "<br>" + f.properties.households + " " + t("households") }) }).addTo(labelLayer);
      },
    }).addTo(map);
    gridLayer.bringToBack();
  }
  function drawBuildings() {
    const diff = new Set(wb.diff), sel = new Set(wb.selB);
    bIndex.forEach((layer, i) => {
      const s = sel.has(i), d = diff.has(i);
      const fill = s ? "#e91e63" : d ? "#ff9800" : "#777";
      layer.setStyle({ color: s ? "#e91e63" : "#333", weight: s ? 2 : 0.6,
        fillColor: fill, fillOpacity: s || d ? 0.8 : 0.5 });
    });
  }
  function drawTable() {
    const s = wb.state, rows = s.grids.features.map((f) => Object.assign({ label: label(f.properties) }, f.properties));
    const k = wb.sortKey, up = wb.sortUp ? 1 : -1;
    rows.sort((a, b) => (a[k] > b[k] ? 1 : a[k] < b[k] ? -1 : 0) * up);
    const tb = document.querySelector("#grids tbody");
    tb.innerHTML = "";
    for (const p of rows) {
      const tr = document.createElement("tr");
      tr.dataset.grid = p.grid_id;
      if (wb.selG.includes(p.grid_id)) tr.classList.add("sel");
      if (p.out_of_band) tr.classList.add("off");
      const cells = [p.label, p.households, p.buildings, (p.deviation * 100).toFixed(1) + "%", p.workers,
        p.locked ? "✔" : "", p.edited ? "*" : "", p.why ? t(p.why) : (p.note || "")];
      for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
      tr.addEventListener("click", (e) => { pickGrid(p.grid_id, e.shiftKey); zoomTo(p.grid_id); });
      tb.appendChild(tr);
    }
    const sel = wb.selB.length ? `${t("selected")}: ${wb.selB.length} · ${wb.selB.reduce((a, i) => a + bHouseholds[i], 0)} ${t("households")}` : "";
    $("summary").textContent = `${s.grids.features.length} ${t("grid")} · ${s.households} ${t("households")} · ${s.band[0]}–${s.band[1]}` + (sel ? " · " + sel : "");
    $("undo").disabled = !s.can_undo; $("redo").disabled = !s.can_redo;
  }
  function zoomTo(id) {
    if (!gridLayer) return;
    gridLayer.eachLayer((l) => {
      if (l.feature.properties.grid_id === id && !map.getBounds().contains(l.getBounds())) map.fitBounds(l.getBounds(), { maxZoom: map.getZoom() });
    });
  }
  function render() { drawGrids(); drawBuildings(); drawTable(); }

  function pickGrid(id, add) {
    if (add) wb.selG = wb.selG.includes(id) ? wb.selG.filter((g) => g !== id) : wb.selG.concat([id]);
    else wb.selG = [id];
    const f = wb.state.grids.features.find((x) => x.properties.grid_id === id);
    if (f) $("note").value = f.properties.note || "";
    drawGrids(); drawTable();
  }
  async function pickBuilding(i, add) {
    if (add) wb.selB = wb.selB.includes(i) ? wb.selB.filter((b) => b !== i) : wb.selB.concat([i]);
    else wb.selB = (await api("piece", { building: i })).buildings;
    drawBuildings(); drawTable();
  }
  wb.pickBuilding = pickBuilding; wb.pickGrid = pickGrid;
  wb.buildingPath = (i) => bIndex[i] && bIndex[i]._path;
  wb.map = map;
  wb.centre = (i) => bCentre[i];
  wb.fills = () => { const o = {}; if (gridLayer) gridLayer.eachLayer((l) => { o[l.feature.properties.grid_id] = l.options.fillColor; }); return o; };
  wb.zoomToBuildings = (ids) => map.fitBounds(L.featureGroup(ids.map((i) => bIndex[i])).getBounds(), { maxZoom: 18, padding: [150, 150], animate: false });

  // -- lasso: hold the mouse down and draw; buildings whose centre is inside ---------
  function inside(pt, ring) {
    let hit = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const a = ring[i], b = ring[j];
      if ((a.lat > pt.lat) !== (b.lat > pt.lat) &&
          pt.lng < (b.lng - a.lng) * (pt.lat - a.lat) / (b.lat - a.lat) + a.lng) hit = !hit;
    }
    return hit;
  }
  function keepOneGrid(hit, add) {
    if (add) hit = Array.from(new Set(wb.selB.concat(hit)));
    if (!hit.length) { say(t("lassoNone"), "error"); return; }
    const count = {};
    for (const i of hit) { const g = wb.state.building_grid[i]; count[g] = (count[g] || 0) + 1; }
    const grids = Object.keys(count);
    if (grids.length > 1) {
      const keep = grids.reduce((a, b) => (count[a] >= count[b] ? a : b));
      hit = hit.filter((i) => wb.state.building_grid[i] === keep);
      say(`${t("lassoGrids")} ${keep}`, "");
    } else say("", "");
    wb.selB = hit; drawBuildings(); drawTable();
  }
  function lassoSelect(ring, add) {
    const hit = [];
    bCentre.forEach((c, i) => { if (c && inside(c, ring)) hit.push(i); });
    keepOneGrid(hit, add);
  }
  // the brush: buildings whose centre the stroke passes within BRUSH pixels of
  const BRUSH = 10;
  function brushSelect(stroke, add) {
    const pts = stroke.map((p) => map.latLngToContainerPoint(p)), hit = [];
    const near = (c) => {
      if (pts.length === 1) return c.distanceTo(pts[0]) <= BRUSH;
      for (let k = 1; k < pts.length; k++) if (L.LineUtil.pointToSegmentDistance(c, pts[k - 1], pts[k]) <= BRUSH) return true;
      return false;
    };
    bCentre.forEach((c, i) => { if (c && near(map.latLngToContainerPoint(c))) hit.push(i); });
    keepOneGrid(hit, add);
  }
  function setTool(name) {
    wb.tool = name; wb.lasso = name === "lasso"; wb.brush = name === "brush";
    $("lasso").classList.toggle("on", wb.lasso); $("brush").classList.toggle("on", wb.brush);
    if (name) { map.dragging.disable(); say(t(name + "On"), ""); } else map.dragging.enable();
    map.getContainer().style.cursor = name ? "crosshair" : "";
  }
  $("lasso").onclick = () => setTool(wb.lasso ? null : "lasso");
  $("brush").onclick = () => setTool(wb.brush ? null : "brush");
  // on the map's container, in the capture phase: nothing under the pointer sees the stroke
  const box = map.getContainer();
  box.addEventListener("mousedown", (e) => {
    if (!wb.tool || e.button !== 0) return;
    e.stopPropagation(); e.preventDefault();
    const style = wb.brush ? { color: "#e91e63", weight: 2 * BRUSH, opacity: 0.35, lineCap: "round", interactive: false }
      : { color: "#e91e63", weight: 2, dashArray: "5 4", interactive: false };
    lassoLine = L.polyline([map.mouseEventToLatLng(e)], style).addTo(map);
    lassoLine.shift = e.shiftKey;
  }, true);
  box.addEventListener("mousemove", (e) => { if (lassoLine) { e.stopPropagation(); lassoLine.addLatLng(map.mouseEventToLatLng(e)); } }, true);
  box.addEventListener("mouseup", (e) => {
    if (!lassoLine) return;
    e.stopPropagation();
    const ring = lassoLine.getLatLngs(), add = lassoLine.shift;
    map.removeLayer(lassoLine); lassoLine = null;
    if (wb.brush) brushSelect(ring, add);
    else if (ring.length >= 3) lassoSelect(ring, add);
    setTool(null);
    wb.lassoJustEnded = true;  // the click that follows is the stroke's, not a pick
    setTimeout(() => { wb.lassoJustEnded = false; }, 0);
  }, true);
  box.addEventListener("click", (e) => { if (wb.tool || wb.lassoJustEnded) e.stopPropagation(); }, true);

  // -- edits ------------------------------------------------------------------------
  async function edit(path, body, done) {
    try {
      const s = await api(path, body);
      wb.state = s;
      wb.selG = wb.selG.filter((g) => s.grids.features.some((f) => f.properties.grid_id === g));
      render();
      say(done || "", "ok");
      return s;
    } catch (e) { say(e.message, "error"); return null; }
  }
  $("move").onclick = async () => {
    if (!wb.selB.length) return say(t("pickBuildings"), "error");
    if (wb.selG.length !== 1) return say(t("pickGrid"), "error");
    const s = await edit("move", { buildings: wb.selB, to: wb.selG[0] }, t("moved"));
    if (s) wb.selB = [], drawBuildings(), drawTable();
  };
  $("merge").onclick = () => wb.selG.length === 2 ? edit("merge", { keep: wb.selG[0], other: wb.selG[1] }) : say(t("two"), "error");
  $("split").onclick = () => wb.selG.length === 1 ? edit("split", { grid: wb.selG[0] }) : say(t("pickGrid"), "error");
  $("lock").onclick = () => edit("lock", { grids: wb.selG, locked: true });
  $("unlock").onclick = () => edit("lock", { grids: wb.selG, locked: false });
  $("rebalance").onclick = () => edit("rebalance", {});
  $("undo").onclick = () => edit("undo", {});
  $("redo").onclick = () => edit("redo", {});
  $("setnote").onclick = () => wb.selG.length === 1 ? edit("note", { grid: wb.selG[0], text: $("note").value }) : say(t("pickGrid"), "error");

  // -- versions ---------------------------------------------------------------------
  $("save").onclick = async () => {
    try {
      const r = await api("save", { base: wb.state.base, message: "" });
      wb.state.base = r.version; say(`${t("saved")} ${r.version}`, "ok"); drawVersions(r.versions);
    } catch (e) { say((e.status === 409 ? t("conflict") : "") + e.message, "error"); }
  };
  async function compareVersions(a, b) {
    try {
      const d = await api(`compare?a=${a}` + (b === "" || b === undefined ? "" : `&b=${b}`));
      wb.diff = d.moved.map((m) => m.building);
      if (diffLayer) map.removeLayer(diffLayer);
      diffLayer = L.geoJSON(d.changed, {
        style: { className: "wb-diff", color: "#bf360c", weight: 2, fillColor: "#ff9800", fillOpacity: 0.85 },
        onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties.from} → ${f.properties.to} · ${f.properties.households} ${t("households")}`),
        interactive: true,
      }).addTo(map);
      drawBuildings();
      say(`#${a} → ${b ? "#" + b : t("current")}: ${d.buildings_moved} ${t("bmoved")}, ${d.households_moved} ${t("households")}`, "ok");
      return d;
    } catch (e) { say(e.message, "error"); return null; }
  }
  wb.compare = compareVersions;
  $("compare").onclick = () => compareVersions($("cmpa").value, $("cmpb").value);
  $("cleardiff").onclick = () => { wb.diff = []; if (diffLayer) map.removeLayer(diffLayer); diffLayer = null; drawBuildings(); };
  function drawVersions(list) {
    wb.versions = list;
    const ul = $("versions"); ul.innerHTML = "";
    for (const v of list.slice().reverse()) {
      const li = document.createElement("li");
      li.dataset.version = v.id;
      li.textContent = `#${v.id} ${v.created} · ${v.grids} ${t("grid")} ${v.message || ""} `;
      const o = document.createElement("button"); o.textContent = t("open");
      o.onclick = () => edit(`versions/${v.id}/open`, {});
      const r = document.createElement("button"); r.textContent = t("revert"); r.className = "revert";
      r.onclick = async () => { await edit(`versions/${v.id}/revert`, {}); loadVersions(); };
      const c = document.createElement("button"); c.textContent = t("compare");
      c.className = "compare";
      c.onclick = () => compareVersions(v.id, list[list.length - 1].id);
      li.append(o, r, c); ul.appendChild(li);
    }
    for (const [id, cur] of [["cmpa", false], ["cmpb", true]]) {
      const sel = $(id), was = sel.value; sel.innerHTML = "";
      if (cur) sel.append(new Option(t("current"), ""));
      for (const v of list.slice().reverse()) sel.append(new Option("#" + v.id, v.id));
      if ([...sel.options].some((o) => o.value === was)) sel.value = was;
    }
  }
  async function loadVersions() { drawVersions((await api("versions")).versions); }

  // -- downloads (with the token when the server wants one) ---------------------------
  document.querySelectorAll("a.dl").forEach((a) => a.addEventListener("click", async (e) => {
    if (!sessionStorage.getItem("gridgeo-token")) return;
    e.preventDefault();
    try {
      const blob = await request(a.getAttribute("href"));
      const u = URL.createObjectURL(blob), tmp = document.createElement("a");
      tmp.href = u; tmp.download = a.getAttribute("download"); tmp.click(); URL.revokeObjectURL(u);
    } catch (err) { say(err.message, "error"); }
  }));

  // -- table sort, language, layers --------------------------------------------------
  document.querySelectorAll("#grids th").forEach((th) => th.addEventListener("click", () => {
    wb.sortUp = wb.sortKey === th.dataset.k ? !wb.sortUp : true; wb.sortKey = th.dataset.k; drawTable();
  }));
  function translate() {
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
    document.querySelectorAll("[data-tp]").forEach((e) => { e.placeholder = t(e.dataset.tp); });
    $("lang").textContent = wb.lang === "zh" ? "EN" : "中文";
    document.documentElement.lang = wb.lang;
    for (const o of $("basemap").options) o.textContent = t("bm_" + o.value);
    const lang = wb.lang;
    $("pdf").href = `api/map.pdf?lang=${lang}`; $("png").href = `api/map.png?lang=${lang}`; $("audit").href = `api/audit.csv?lang=${lang}`;
  }
  $("lang").onclick = () => {
    wb.lang = wb.lang === "zh" ? "en" : "zh"; translate();
    if (wb.state && wb.state.open) { render(); loadVersions(); }
    if (!$("open").hidden) loadSources();
  };
  $("colour").onchange = () => { wb.colourBy = $("colour").value; drawGrids(); };
  $("showstreets").onchange = () => { if (streetLayer) $("showstreets").checked ? streetLayer.addTo(map) : map.removeLayer(streetLayer); };
  $("showbuildings").onchange = () => { if (bLayer) $("showbuildings").checked ? bLayer.addTo(map) : map.removeLayer(bLayer); };
  function setBasemap(name) {
    baseLayers.forEach((l) => map.removeLayer(l)); baseLayers = [];
    const bm = basemapList.find((b) => b.name === name);
    if (!bm) return;
    for (const l of bm.layers) {
      const layer = L.tileLayer(l.url, { attribution: l.attribution, maxZoom: l.max_zoom, subdomains: l.subdomains || "abc" });
      layer.addTo(map); layer.bringToBack(); baseLayers.push(layer);
    }
  }
  $("basemap").onchange = () => setBasemap($("basemap").value);

  // -- opening a plan ------------------------------------------------------------------
  async function loadSources() {
    const ul = $("sources"); ul.innerHTML = "";
    let data;
    try { data = await api("sources"); } catch (e) { if (e.status === 404) { $("openbtn").hidden = true; $("open").hidden = true; } return; }
    $("partitionform").hidden = !data.jobs;
    if (!data.sources.length) { const li = document.createElement("li"); li.textContent = t("noSources"); ul.appendChild(li); }
    for (const src of data.sources) {
      const li = document.createElement("li"); li.dataset.source = src.source;
      const b = document.createElement("button"); b.textContent = t("open");
      b.onclick = () => openSource(src.source);
      li.append(b, ` ${t("kind_" + src.kind)} ${src.name}` + (src.grids ? ` · ${src.grids} ${t("grid")}` : "") +
        (src.households ? ` · ${src.households} ${t("households")}` : ""));
      ul.appendChild(li);
    }
  }
  async function opened(s) {
    wb.state = s; wb.selB = []; wb.selG = []; wb.diff = [];
    $("open").hidden = true;
    await drawPlan();
    say(`${t("opened")} ${s.plan}`, "ok");
  }
  async function openSource(source) {
    try { await opened(await api("open", { source })); } catch (e) { say(e.message, "error"); }
  }
  wb.openSource = openSource;
  $("uploadform").onsubmit = async (e) => {
    e.preventDefault();
    const form = new FormData();
    if (!$("planfile").files.length) return say(t("planFile"), "error");
    form.append("plan", $("planfile").files[0]);
    if ($("buildingsfile").files.length) form.append("buildings", $("buildingsfile").files[0]);
    form.append("households_column", $("hhcolumn").value || "households");
    try { await opened(await request("api/open/upload", { method: "POST", body: form })); } catch (err) { say(err.message, "error"); }
  };
  $("partitionform").onsubmit = async (e) => {
    e.preventDefault();
    if (!$("layersfile").files.length) return say(t("layersFile"), "error");
    const form = new FormData();
    form.append("file", $("layersfile").files[0]);
    form.append("target", $("ptarget").value || "300");
    try {
      let job = await request("jobs/partition/upload", { method: "POST", body: form });
      while (job.status === "queued" || job.status === "running") {
        say(`${t("jobRunning")} ${Math.round(100 * (job.progress || 0))}% ${job.stage || ""}`, "");
        await new Promise((r) => setTimeout(r, 700));
        job = await request("jobs/" + job.id);
      }
      if (job.status !== "succeeded") return say(t("jobFailed") + (job.error ? job.error.message : job.status), "error");
      await openSource("jobs/" + job.id);
    } catch (err) { say(err.message, "error"); }
  };
  $("openbtn").onclick = () => { $("open").hidden = !$("open").hidden; if (!$("open").hidden) loadSources(); };

  async function drawPlan() {
    for (const l of [bLayer, streetLayer, diffLayer]) if (l) map.removeLayer(l);
    bLayer = streetLayer = diffLayer = null; bIndex = []; bCentre = [];
    const b = await api("buildings");
    bHouseholds = b.features.map((f) => f.properties.households);
    bLayer = L.geoJSON(b, {
      renderer: b.features.length > 3000 ? L.canvas({ tolerance: 2 }) : undefined,  // Monaco-sized plans
      style: { className: "wb-building", weight: 0.6 },
      onEachFeature: (f, layer) => {
        bIndex[f.properties.i] = layer;
        bCentre[f.properties.i] = layer.getBounds().getCenter();
        layer.on("click", (e) => { if (wb.tool) return; L.DomEvent.stopPropagation(e); pickBuilding(f.properties.i, e.originalEvent.shiftKey); });
      },
    });
    if ($("showbuildings").checked) bLayer.addTo(map);
    if (wb.state.streets) {
      const st = await api("streets");
      streetLayer = L.geoJSON(st, { style: { className: "wb-street", color: "#555", weight: 1.5, opacity: 0.8 }, interactive: false });
      if ($("showstreets").checked) streetLayer.addTo(map);
    }
    render();
    map.fitBounds(gridLayer.getBounds());
    await loadVersions();
  }

  async function start() {
    translate();
    wb.ready = false;
    try {
      basemapList = (await api("basemaps")).basemaps;
      const sel = $("basemap"); sel.innerHTML = "";
      for (const bm of basemapList) sel.append(new Option(t("bm_" + bm.name), bm.name));
      wb.state = await api("plan");
    } catch (e) { say(e.message, "error"); return; }
    $("openbtn").hidden = !wb.state.sources;
    if (wb.state.open) await drawPlan();
    else { $("open").hidden = false; say(t("noPlan"), ""); await loadSources(); }
    // many grids: labels only when zoomed in far enough to read them
    const crowded = () => wb.state.open && wb.state.grids.features.length > 60 && map.getZoom() < 15.5;
    if (!wb.zoomWatch) wb.zoomWatch = map.on("zoomend", () => { crowded() ? map.removeLayer(labelLayer) : labelLayer.addTo(map); });
    if (crowded()) map.removeLayer(labelLayer);
    if (!wb.scale) wb.scale = L.control.scale({ imperial: false }).addTo(map);
    if (!wb.state.open) map.setView([39.99, 116.47], 13);
    wb.ready = true;
  }
  start().catch((e) => say(e.message, "error"));
})();
