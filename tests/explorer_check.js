// What a learner cannot see of one explorer (a `.nnlearn-explorer` element), as a list of
// sentences; an empty list means every control, readout and the figure are fully visible.
// tests/browser_support.py runs it in the page with `explorer.evaluate(...)`.
//
// An element counts as seen when it
//   - has a non-zero width and height,
//   - lies inside the output area `area` (JupyterLab's .jp-OutputArea-output, the book's cell
//     output), and inside every ancestor that clips (overflow other than visible) up to it,
//   - shows all its text (scrollWidth <= clientWidth: a slider's readout, a description, an
//     HTML readout or table, a button; a dropdown's selected option measured in its own font),
//   - is the element found at its own centre once scrolled there (nothing covers it).
// Elements the page does not render (display: none, a Stack's hidden frames) are not checked.
async (explorer, areaSelector) => {
    // The figure's PNG (a data: URL) may still be decoding; a broken one rejects.
    await Promise.all([...explorer.querySelectorAll("img")].map((i) => i.decode().catch(() => null)));
    const SLACK = 1; // px: sub-pixel rounding
    const problems = [];
    const area = explorer.closest(areaSelector);
    if (!area) return [`the explorer is not inside ${areaSelector}`];

    const name = (el) => {
        const owner = el.closest(".widget-inline-hbox, .widget-html, .widget-button, .widget-image");
        const label = owner && owner.querySelector(".widget-label");
        const text = (label && label.textContent.trim()) || el.textContent.trim() || el.value || "";
        return `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${text.slice(0, 40)}"`;
    };
    const outside = (r, box, x, y) =>
        (x && (r.left < box.left - SLACK || r.right > box.right + SLACK)) ||
        (y && (r.top < box.top - SLACK || r.bottom > box.bottom + SLACK));
    const px = (rect) => `${Math.round(rect.left)}..${Math.round(rect.right)} x ` +
        `${Math.round(rect.top)}..${Math.round(rect.bottom)}`;

    const check = (el, what, { textFits = false } = {}) => {
        if (el.getClientRects().length === 0) return; // not rendered
        const r = el.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) {
            problems.push(`${what} ${name(el)} is ${Math.round(r.width)}x${Math.round(r.height)} px`);
            return;
        }
        const a = area.getBoundingClientRect();
        if (outside(r, a, true, true)) {
            problems.push(`${what} ${name(el)} at ${px(r)} leaves the output area ${px(a)}`);
        }
        for (let up = el.parentElement; up && up !== area.parentElement; up = up.parentElement) {
            const style = getComputedStyle(up);
            const x = style.overflowX !== "visible", y = style.overflowY !== "visible";
            if ((x || y) && outside(r, up.getBoundingClientRect(), x, y)) {
                problems.push(`${what} ${name(el)} at ${px(r)} is cut by ${up.tagName.toLowerCase()}` +
                    `.${[...up.classList].join(".")} at ${px(up.getBoundingClientRect())}`);
                break;
            }
        }
        if (textFits && el.scrollWidth > el.clientWidth + SLACK) {
            problems.push(`${what} ${name(el)} cuts its text: ${el.scrollWidth} px in ${el.clientWidth}`);
        }
        el.scrollIntoView({ block: "center", inline: "nearest" });
        const c = el.getBoundingClientRect();
        const hit = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);
        if (!hit || !(el.contains(hit) || (getComputedStyle(el).pointerEvents === "none" &&
                                           hit.contains(el)))) {
            const by = hit ? `${hit.tagName.toLowerCase()}.${[...hit.classList].join(".")}` : "nothing";
            problems.push(`${what} ${name(el)} is covered at its centre by ${by}`);
        }
    };

    const all = (selector) => [...explorer.querySelectorAll(selector)];
    const shown = (el) => el.getClientRects().length > 0;
    const controls = all(".nnlearn-controls");
    if (controls.length !== 1) problems.push(`${controls.length} .nnlearn-controls columns`);
    if (!all(".nnlearn-figure").length) problems.push("no .nnlearn-figure");

    for (const el of all(".noUi-handle")) check(el, "slider handle");
    for (const el of all(".widget-readout")) check(el, "slider readout", { textFits: true });
    for (const el of all(".widget-label")) {
        if (el.textContent.trim()) check(el, "description", { textFits: true });
    }
    for (const el of all("button")) check(el, "button", { textFits: true });
    for (const el of all("input, textarea")) check(el, "input");
    for (const el of all(".widget-html-content")) {
        if (el.textContent.trim()) check(el, "readout", { textFits: true });
    }
    for (const el of all("select")) {
        check(el, "dropdown", { textFits: true });
        if (!shown(el) || el.multiple || el.selectedIndex < 0) continue;
        // The closed dropdown shows its selected option in the box's content width.
        const style = getComputedStyle(el);
        const canvas = document.createElement("canvas").getContext("2d");
        canvas.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = el.options[el.selectedIndex].text;
        const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        const needs = canvas.measureText(text).width;
        if (needs > room + SLACK) {
            problems.push(`dropdown ${name(el)} shows "${text}" (${Math.ceil(needs)} px) in ` +
                `${Math.floor(room)} px`);
        }
    }
    const images = all(".nnlearn-figure img").filter(shown);
    if (images.length === 0) problems.push("the figure shows no image");
    for (const img of images) {
        check(img, "figure");
        if (!img.naturalWidth) problems.push("the figure's image did not load");
        const r = img.getBoundingClientRect();
        if (getComputedStyle(img).objectFit === "fill" && img.naturalWidth && r.height) {
            const drawn = img.naturalWidth / img.naturalHeight, boxed = r.width / r.height;
            if (Math.abs(boxed / drawn - 1) > 0.03) {
                problems.push(`the figure is stretched: aspect ${boxed.toFixed(2)} for ${drawn.toFixed(2)}`);
            }
        }
    }
    const controlCount = all(".noUi-handle, select, button, input").filter(shown).length;
    if (controlCount === 0) problems.push("the explorer shows no control");
    return problems;
}
