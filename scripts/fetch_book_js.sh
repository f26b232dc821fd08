#!/usr/bin/env bash
# Fetch the JavaScript the built book needs from the npm registry (npm pack) into DEST
# (default book/_vendor, git-ignored), so no page of the book loads anything from the internet:
#   require.js          requirejs, which the widget manager is written for
#   html-manager/       @jupyter-widgets/html-manager 1.x (ipywidgets 8): renders widget state
#   mathjax/            MathJax 3's tex-mml-chtml bundle with its fonts and on-demand parts
# book/_config.yml points html_static_path, mathjax_path and nb_ipywidgets_js at these files.
# The folder must not be called _static: Jupyter Book would add every .js in it to every page.
set -euo pipefail

dest=$(realpath -m "${1:-book/_vendor}")
if ! command -v npm >/dev/null; then
    echo "The book needs npm (Node.js) to fetch its JavaScript from the npm registry." >&2
    echo "Install Node.js with npm (https://nodejs.org, or: apt-get install npm) and rerun." >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@jupyter-widgets/html-manager@^1.0.6" "requirejs@^2.3.6" \
    "mathjax@^3.2" >/dev/null)
for name in jupyter-widgets-html-manager requirejs mathjax; do
    mkdir -p "$work/$name"
    tar -xzf "$work"/"$name"-[0-9]*.tgz -C "$work/$name" --strip-components=1
done

new="$dest.partial"
rm -rf "$new"
mkdir -p "$new/html-manager" "$new/mathjax/output"
cp "$work/requirejs/require.js" "$new/require.js"
# The AMD bundle with whatever chunks and icon fonts it loads; not the source maps, nor the
# bundles for other loaders (embed.js, libembed-amd.js).
for file in "$work/jupyter-widgets-html-manager/dist"/*; do
    case "$(basename "$file")" in
        *.map | embed.js* | libembed-amd.js) ;;
        *) cp "$file" "$new/html-manager/" ;;
    esac
done
# MathJax loads its fonts, TeX extensions and menu parts on demand, relative to the bundle.
es5="$work/mathjax/es5"
cp "$es5/tex-mml-chtml.js" "$new/mathjax/"
cp -r "$es5/input" "$es5/a11y" "$es5/ui" "$es5/sre" "$es5/adaptors" "$new/mathjax/"
cp -r "$es5/output/chtml" "$new/mathjax/output/"
for name in jupyter-widgets-html-manager requirejs mathjax; do
    cp "$work/$name/LICENSE"* "$new/LICENSE-$name" 2>/dev/null || true
done

rm -rf "$dest"
mv "$new" "$dest"
echo "Fetched the book's JavaScript into $dest ($(du -sh "$dest" | cut -f1))."
