// Every figure opens full size. Each image is wrapped in a link to its own file (without JavaScript that link still
// works, and a middle click opens a tab); a plain click shows the image at its natural size over the page: scroll to
// pan, click or Esc to close.
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("article img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "zoom";
    link.title = "Open full size";
    img.replaceWith(link);
    link.appendChild(img);
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.zoom");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    const box = document.createElement("div");
    box.className = "zoom-box";
    const big = new Image();
    big.src = link.href;
    big.alt = link.querySelector("img")?.alt || "";
    box.appendChild(big);
    document.body.appendChild(box);
    const close = () => { box.remove(); document.removeEventListener("keydown", onKey); };
    const onKey = (e) => { if (e.key === "Escape") close(); };
    box.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
  });
});
