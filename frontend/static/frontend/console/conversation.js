// Canned responses: choosing one puts its text into the reply box, ready to edit and send.

for (const select of document.querySelectorAll("[data-canned-for]")) {
  select.addEventListener("change", () => {
    const box = document.getElementById(select.dataset.cannedFor);
    if (select.value) {
      box.value = select.value;
      box.focus();
    }
    select.value = "";
  });
}
