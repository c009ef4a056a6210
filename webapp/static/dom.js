// Building the page from data without innerHTML: every value goes in as text.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A labelled figure; `value` (the raw number) is kept in data-value for anyone checking. */
export function figure(field, label, text, value, extraClass = '') {
  return h(
    'div',
    { class: 'figure', 'data-field': field },
    h('span', { class: 'label', text: label }),
    h('span', { class: 'value ' + extraClass, 'data-value': value, text }),
  );
}

export function row(label, text, field, value, extraClass = '') {
  return h(
    'div',
    { class: 'row', 'data-field': field },
    h('span', { class: 'label', text: label }),
    h('span', { class: 'value ' + extraClass, 'data-value': value, text }),
  );
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', { text: title }), ...children);
}
