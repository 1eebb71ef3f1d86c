/* gridgeo workbench: the page over /api (no framework, Leaflet only). */
"use strict";
(function () {
  const T = {
    zh: { title: "网格规划工作台", move: "移入所选网格", merge: "合并网格", split: "拆分网格",
      lock: "锁定", unlock: "解锁", rebalance: "重新平衡其余网格", undo: "撤销", redo: "重做",
      save: "保存版本", geojson: "导出 GeoJSON", gpkg: "导出 GeoPackage", shp: "Shapefile (zip)", pdf: "网格划分区域图 PDF", csv: "人员配置 CSV",
      setnote: "写备注", note: "网格备注", grid: "网格", hh: "户数", bld: "楼栋", dev: "偏差",
      workers: "网格员", locked: "锁定", why: "说明", versions: "版本", open: "打开",
      revert: "恢复", compare: "与最新版比较", bmoved: "栋楼换了网格", selected: "已选楼栋", households: "户", saved: "已保存版本",
      pickGrid: "请在表格或地图上选择目标网格", pickBuildings: "请先点击选择楼栋",
      two: "请选择两个网格（Shift+点击）", moved: "已移动", conflict: "保存冲突：" ,
      "too few households": "户数过少", "too many households": "户数过多", "one building over the band": "单栋楼超出上限" },
    en: { title: "Grid workbench", move: "Move to selected grid", merge: "Merge grids", split: "Split grid",
      lock: "Lock", unlock: "Unlock", rebalance: "Rebalance the rest", undo: "Undo", redo: "Redo",
      save: "Save version", geojson: "Export GeoJSON", gpkg: "Export GeoPackage", shp: "Shapefile (zip)", pdf: "Print map PDF", csv: "Staffing CSV",
      setnote: "Set note", note: "note on the grid", grid: "Grid", hh: "Households", bld: "Bldgs", dev: "Dev.",
      workers: "Workers", locked: "Locked", why: "Why", versions: "Versions", open: "open",
      revert: "revert", compare: "compare with latest", bmoved: "buildings changed grid", selected: "selected buildings", households: "households", saved: "saved version",
      pickGrid: "select the target grid in the table or on the map", pickBuildings: "click buildings first",
      two: "select two grids (shift-click)", moved: "moved", conflict: "conflict: ",
      "too few households": "too few households", "too many households": "too many households", "one building over the band": "one building over the band" },
  };
  const wb = { lang: "zh", state: null, selB: [], selG: [], sortKey: "label", sortUp: true, busy: 0, diff: [] };
  window.wb = wb;
  const $ = (id) => document.getElementById(id);
  const t = (k) => T[wb.lang][k] || k;
  const map = L.map("map", { preferCanvas: false, zoomSnap: 0.25 });
  let gridLayer = null, labelLayer = L.layerGroup().addTo(map), bLayer = null, bIndex = [];

  function say(text, kind) { const m = $("msg"); m.textContent = text; m.className = kind || ""; }
  function colour(p) {
    if (p.locked) return "#607d8b";
    const d = p.deviation, tol = wb.state.tolerance;
    if (d < -tol) return d < -2 * tol ? "#2c7bb6" : "#abd9e9";
    if (d > tol) return d > 2 * tol ? "#d7191c" : "#fdae61";
    return "#a6d96a";
  }
  function label(p) { return p.code || p.grid_id; }

  async function api(path, body) {
    wb.busy++;
    try {
      const r = await fetch("api/" + path, body === undefined ? {} :
        { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const data = await r.json();
      if (!r.ok) { const e = new Error(data.detail || r.statusText); e.status = r.status; throw e; }
      return data;
    } finally { wb.busy--; }
  }

  function drawGrids() {
    const s = wb.state;
    if (gridLayer) map.removeLayer(gridLayer);
    labelLayer.clearLayers();
    gridLayer = L.geoJSON(s.grids, {
      style: (f) => ({ className: "wb-grid", color: wb.selG.includes(f.properties.grid_id) ? "#000" : "#444",
        weight: wb.selG.includes(f.properties.grid_id) ? 3 : 1, fillColor: colour(f.properties), fillOpacity: 0.45 }),
      onEachFeature: (f, layer) => {
        layer.on("click", (e) => { pickGrid(f.properties.grid_id, e.originalEvent.shiftKey); });
        const c = layer.getBounds().getCenter();
        L.marker(c, { interactive: false, icon: L.divIcon({ className: "wb-label",
          html: label(f.properties) + "<br>" + f.properties.households }) }).addTo(labelLayer);
      },
    }).addTo(map);
    gridLayer.bringToBack();
  }
  function drawBuildings() {
    bIndex.forEach((layer, i) => {
      const sel = wb.selB.includes(i), diff = wb.diff.includes(i);
      const fill = sel ? "#e91e63" : diff ? "#ff9800" : "#777";
      layer.setStyle({ color: sel ? "#e91e63" : "#333", weight: sel ? 2 : 0.6,
        fillColor: fill, fillOpacity: sel || diff ? 0.8 : 0.5 });
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
      const cells = [p.label + (p.edited ? " *" : ""), p.households, p.buildings,
        (p.deviation * 100).toFixed(1) + "%", p.workers, p.locked ? "✔" : "", p.why ? t(p.why) : (p.note || "")];
      for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
      tr.addEventListener("click", (e) => pickGrid(p.grid_id, e.shiftKey));
      tb.appendChild(tr);
    }
    const sel = wb.selB.length ? `${t("selected")}: ${wb.selB.length} · ${wb.selB.reduce((a, i) => a + bHouseholds[i], 0)} ${t("households")}` : "";
    $("summary").textContent = `${s.grids.features.length} ${t("grid")} · ${s.households} ${t("households")} · ${s.band[0]}–${s.band[1]}` + (sel ? " · " + sel : "");
    $("undo").disabled = !s.can_undo; $("redo").disabled = !s.can_redo;
  }
  function render() { drawGrids(); drawBuildings(); drawTable(); }
  let bHouseholds = [];

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
  $("save").onclick = async () => {
    try {
      const r = await api("save", { base: wb.state.base, message: "" });
      wb.state.base = r.version; say(`${t("saved")} ${r.version}`, "ok"); drawVersions(r.versions);
    } catch (e) { say((e.status === 409 ? t("conflict") : "") + e.message, "error"); }
  };
  function drawVersions(list) {
    const ul = $("versions"); ul.innerHTML = "";
    for (const v of list.slice().reverse()) {
      const li = document.createElement("li");
      li.dataset.version = v.id;
      li.textContent = `#${v.id} ${v.created} · ${v.grids} ${t("grid")} ${v.message || ""} `;
      const o = document.createElement("button"); o.textContent = t("open");
      o.onclick = () => edit(`versions/${v.id}/open`, {});
      const r = document.createElement("button"); r.textContent = t("revert");
      r.onclick = async () => { await edit(`versions/${v.id}/revert`, {}); loadVersions(); };
      const c = document.createElement("button"); c.textContent = t("compare");
      c.className = "compare";
      c.onclick = async () => {
        const last = list[list.length - 1].id;
        try {
          const d = await api(`compare?a=${v.id}&b=${last}`);
          wb.diff = d.moved.map((m) => m.building);
          drawBuildings();
          say(`#${v.id} → #${last}: ${d.buildings_moved} ${t("bmoved")}, ${d.households_moved} ${t("households")}`, "ok");
        } catch (e) { say(e.message, "error"); }
      };
      li.append(o, r, c); ul.appendChild(li);
    }
  }
  async function loadVersions() { drawVersions((await api("versions")).versions); }
  document.querySelectorAll("#grids th").forEach((th) => th.addEventListener("click", () => {
    wb.sortUp = wb.sortKey === th.dataset.k ? !wb.sortUp : true; wb.sortKey = th.dataset.k; drawTable();
  }));
  function translate() {
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
    document.querySelectorAll("[data-tp]").forEach((e) => { e.placeholder = t(e.dataset.tp); });
    $("lang").textContent = wb.lang === "zh" ? "EN" : "中文";
    document.documentElement.lang = wb.lang;
  }
  $("lang").onclick = () => { wb.lang = wb.lang === "zh" ? "en" : "zh"; translate(); if (wb.state) render(); loadVersions(); };

  async function start() {
    translate();
    wb.state = await api("plan");
    const b = await api("buildings");
    bHouseholds = b.features.map((f) => f.properties.households);
    bLayer = L.geoJSON(b, {
      renderer: b.features.length > 3000 ? L.canvas({ tolerance: 2 }) : undefined,  // Monaco-sized plans
      style: { className: "wb-building", weight: 0.6 },
      onEachFeature: (f, layer) => {
        bIndex[f.properties.i] = layer;
        layer.on("click", (e) => { L.DomEvent.stopPropagation(e); pickBuilding(f.properties.i, e.originalEvent.shiftKey); });
      },
    }).addTo(map);
    render();
    map.fitBounds(gridLayer.getBounds());
    // many grids: labels only when zoomed in far enough to read them
    const crowded = () => wb.state.grids.features.length > 60 && map.getZoom() < 15.5;
    map.on("zoomend", () => { crowded() ? map.removeLayer(labelLayer) : labelLayer.addTo(map); });
    if (crowded()) map.removeLayer(labelLayer);
    L.control.scale({ imperial: false }).addTo(map);
    await loadVersions();
    wb.ready = true;
  }
  start().catch((e) => say(e.message, "error"));
})();
