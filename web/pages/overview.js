export async function render(root){ root.append('overview stub'); }
