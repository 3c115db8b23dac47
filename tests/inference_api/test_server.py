"""The search page's server (Flask test client, tiny models over demo/images): answers match the library,
only indexed files are served, bad requests get a clear JSON message."""
from __future__ import annotations

import numpy as np
import pytest

import inference
from inference_api.zeroshot import TEMPLATES

pytest.importorskip("flask", reason="needs flask (requirements.txt)")


@pytest.fixture(scope="module")
def served(tiny_student_dir, tiny_clip512_pt, tmp_path_factory):
    from inference_api.server import create_app

    model = inference.TurkishCLIP(str(tiny_student_dir), clip=str(tiny_clip512_pt), device="cpu")
    index = model.index(inference.DEMO_IMAGES, index_path=tmp_path_factory.mktemp("idx") / "i.npz", progress=False)
    return model, index, create_app(model, index, default_top=4).test_client()


def test_page_and_assets_are_served_from_the_package(served):
    _, _, client = served
    page = client.get("/")
    assert page.status_code == 200 and b'id="query"' in page.data and b"/static/app.js" in page.data
    assert b"http" not in page.data.replace(b"http-equiv", b"")  # nothing fetched from the internet
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    info = client.get("/api/info").get_json()
    assert info["images"] == len(list(inference.DEMO_IMAGES.glob("*.jpg"))) and info["default_top"] == 4


def test_search_answers_what_the_library_answers(served):
    model, index, client = served
    body = client.get("/api/search", query_string={"q": "kumsalda gün batımı", "top": 3}).get_json()
    expected = index.search(model.encode_text(["kumsalda gün batımı"])[0], 3)
    assert [r["path"] for r in body["results"]] == [p.name for p, _ in expected]
    assert [r["score"] for r in body["results"]] == pytest.approx([s for _, s in expected], abs=1e-4)
    assert body["results"][0]["url"] == f"/image/{expected[0][0].name}"
    assert len(client.get("/api/search?q=kedi").get_json()["results"]) == 4  # the server's default top


def test_classify_gives_per_image_probabilities(served):
    model, index, client = served
    body = client.get("/api/classify", query_string={"labels": "kedi, roket ,astronot"}).get_json()
    assert body["labels"] == ["kedi", "roket", "astronot"] and body["total"] == len(index.paths)
    expected = model.classify([index.folder / p for p in index.paths], body["labels"], TEMPLATES)
    by_path = {item["path"]: item["probs"] for item in body["images"]}
    for row, path in enumerate(index.paths):
        np.testing.assert_allclose(by_path[path], expected[row], atol=2e-4)
        assert sum(by_path[path]) == pytest.approx(1.0, abs=1e-3)


def test_only_indexed_files_are_served(served, tmp_path):
    _, index, client = served
    name = index.paths[0]
    response = client.get(f"/image/{name}")
    assert response.status_code == 200 and response.data == (inference.DEMO_IMAGES / name).read_bytes()
    for bad in ("../README.md", "..%2F..%2Finference.py", "%2Fetc%2Fpasswd", "/etc/passwd", "./" + name,
                name.upper(), "..\\..\\inference.py", "%2e%2e/%2e%2e/inference.py"):
        response = client.get(f"/image/{bad}", follow_redirects=True)  # "//etc" is first redirected to "/etc"
        assert response.status_code == 404, bad
        assert "error" in response.get_json() and b"Traceback" not in response.data
    assert client.get("/../inference.py").status_code == 404
    assert client.get("/static/../server.py").status_code in (400, 404)
    assert client.get("/static/index.html").status_code == 400  # only the page's own assets


@pytest.mark.parametrize("url,status,message", [
    ("/api/search?q=", 400, "the search query is empty; type a Turkish description"),
    ("/api/search?q=kedi&top=many", 400, "top must be a whole number, got 'many'"),
    ("/api/search?q=kedi&top=0", 400, "top must be between 1 and 200, got 0"),
    ("/api/search?q=" + "a" * 600, 400, "keep it under 500"),
    ("/api/classify?labels=", 400, "no labels given; type at least two comma-separated Turkish labels"),
    ("/api/classify?labels=kedi", 400, "give at least 2 labels, e.g. kedi, köpek"),
    ("/api/classify?labels=kedi,,roket", 400, "label #2 is empty"),
    ("/api/classify?labels=kedi,kedi", 400, "label 'kedi' is given twice"),
    ("/api/nothing", 404, "not found: only the page, /api/... and the indexed images are served"),
])
def test_bad_requests_get_a_clear_message(served, url, status, message):
    _, _, client = served
    response = client.get(url)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert b"Traceback" not in response.data


def test_post_is_refused_with_a_message(served):
    response = served[2].post("/api/search?q=kedi")
    assert response.status_code == 405 and response.get_json()["error"] == "method not allowed: use GET"


def test_cli_serve_refuses_bad_options_in_one_line(tiny_student_dir, tmp_path, capsys):
    assert inference.main(["serve", "--model", str(tiny_student_dir), "--images", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: image folder {tmp_path / 'none'} does not exist; pass a folder "
                                               f"of images with --images")
    assert inference.main(["serve", "--images", str(tmp_path), "--top", "0"]) == 2
    assert "--top must be 1-200" in capsys.readouterr().err


def test_serve_on_a_taken_port_is_one_clear_error(served):
    import socket

    from turkish_clip.errors import InputError
    from inference_api.server import serve

    model, index, _ = served
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port} .*choose another --port"):
            serve(model, index.folder, port=port, index_path=index.index_path, progress=False)
