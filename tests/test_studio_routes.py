"""The studio's files, its security headers, the offline docs, and the voice-group routes
the studio needs (hear a reference clip, delete a group)."""

from __future__ import annotations

import io

import soundfile

from conftest import AppFactory
from zips import good_zip, upload_group, voice_wav


def test_studio_page_is_served_with_a_strict_policy(app: AppFactory) -> None:
    with app() as client:
        r = client.get("/studio", follow_redirects=True)
        assert r.status_code == 200
        assert "text/html" in r.headers["content-type"]
        assert '<script type="module" src="js/main.js"></script>' in r.text
        policy = r.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert "connect-src 'self' ws://testserver wss://testserver" in policy
        assert r.headers["x-content-type-options"] == "nosniff"
        module = client.get("/studio/js/main.js")
        assert module.status_code == 200 and "javascript" in module.headers["content-type"]
        assert client.get("/studio/nope.js").status_code == 404


def test_studio_config_says_whether_a_key_is_needed(app: AppFactory) -> None:
    with app() as client:
        assert client.get("/studio/config.json").json()["keys_required"] is False
    with app(api_keys=["k-0123456789"]) as client:
        assert client.get("/studio/config.json").json()["keys_required"] is True
        assert client.get("/studio/").status_code == 200


def test_docs_page_uses_our_own_assets(app: AppFactory) -> None:
    with app() as client:
        page = client.get("/docs").text
        assert "/docs/assets/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower() and "https://" not in page
        bundle = client.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and len(bundle.content) > 500_000
        assert client.get("/docs/assets/swagger-ui.css").status_code == 200


def test_reference_clip_is_the_uploaded_audio(app: AppFactory) -> None:
    with app() as client:
        upload_group(client, "Hero")
        r = client.get("/breathvoice/voice-groups/Hero/references/b1_b2")
        assert r.status_code == 200
        assert r.headers["content-type"] == "audio/wav"
        assert r.content == voice_wav(1.5, seed=1)
        samples, rate = soundfile.read(io.BytesIO(r.content))
        assert rate == 24000 and abs(samples).max() > 0.05


def test_reference_clip_errors(app: AppFactory) -> None:
    with app() as client:
        upload_group(client, "Hero", good_zip("Hero", ["greeting"]))
        r = client.get("/breathvoice/voice-groups/Hero/references/B5_orgasm")
        assert r.status_code == 404
        assert "greeting" in r.json()["error"]
        r = client.get("/breathvoice/voice-groups/Nobody/references/greeting")
        assert r.status_code == 404 and r.json()["code"] == "VOICE_NOT_FOUND"


def test_delete_voice_group(app: AppFactory) -> None:
    with app() as client:
        upload_group(client, "Gone")
        r = client.delete("/breathvoice/voice-groups/Gone")
        assert r.status_code == 200 and r.json()["success"] is True
        assert "Gone" not in client.get("/breathvoice/voice-groups").json()["voice_groups"]
        assert client.get("/breathvoice/voice-groups/Gone").status_code == 404
        assert client.delete("/breathvoice/voice-groups/Gone").status_code == 404
        upload_group(client, "Gone")  # the name is free again


def test_delete_needs_a_key_when_keys_are_configured(app: AppFactory) -> None:
    with app(api_keys=["k-0123456789"]) as client:
        auth = {"Authorization": "Bearer k-0123456789"}
        client.post("/breathvoice/upload-voice-group", data={"voice_group_id": "Kept"},
                    files={"file": ("Kept.zip", good_zip("Kept"))}, headers=auth)
        assert client.delete("/breathvoice/voice-groups/Kept").status_code == 401
        assert client.get("/breathvoice/voice-groups/Kept/references/greeting"
                          ).status_code == 401
        assert client.delete("/breathvoice/voice-groups/Kept", headers=auth).status_code == 200


def test_select_emotion_follows_the_rules_jobs_use(app: AppFactory) -> None:
    names = ["Hero_B1_hit.wav", "x-impact.wav", "B10.wav", "greeting_B5.wav",
             '<b>角色 "quoted".wav', "ORGASM.mp3"]
    with app() as client:
        upload_group(client, "Hero", good_zip("Hero", ["greeting", "B1_B2"]))
        r = client.post("/breathvoice/voice-groups/Hero/select-emotion",
                        json={"filenames": names})
        assert r.status_code == 200
        body = r.json()
        assert body["default_emotion"] == "greeting"
        assert body["available_emotions"] == ["greeting", "B1_B2"]
        picked = {row["filename"]: row["emotion"] for row in body["results"]}
        assert picked == {"Hero_B1_hit.wav": "B1_B2", "x-impact.wav": "B3_B4",
                          "B10.wav": "greeting", "greeting_B5.wav": "greeting",
                          '<b>角色 "quoted".wav': "greeting", "ORGASM.mp3": "B5_orgasm"}
        # An emotion without a clip is spoken by the default emotion's clip, and says so.
        impact = body["results"][1]
        assert impact["reference_emotion"] == "greeting"
        assert impact["reference_audio"] == "Hero_greeting.wav"
        assert body["results"][0]["reference_audio"] == "Hero_B1_B2.wav"
        # A script job picks the same emotions for the same names.
        job = client.post("/breathvoice/jobs", json={"voice_group_id": "Hero", "lines": [
            {"filename": n, "text": "Hi."} for n in names[:4]]}).json()
        lines = client.get(f"/breathvoice/jobs/{job['job_id']}/lines").json()["lines"]
        assert {line["filename"]: line["emotion"] for line in lines} == {
            n: picked[n] for n in names[:4]}


def test_select_emotion_errors(app: AppFactory) -> None:
    with app() as client:
        r = client.post("/breathvoice/voice-groups/Nobody/select-emotion",
                        json={"filenames": ["a.wav"]})
        assert r.status_code == 404 and r.json()["code"] == "VOICE_NOT_FOUND"
        r = client.post("/breathvoice/voice-groups/Demo/select-emotion",
                        json={"filenames": ["a.wav"] * 1001})
        assert r.status_code == 400
        r = client.post("/breathvoice/voice-groups/Demo/select-emotion", json={"names": []})
        assert r.status_code == 400
    with app(api_keys=["k-0123456789"]) as client:
        r = client.post("/breathvoice/voice-groups/Demo/select-emotion",
                        json={"filenames": ["a.wav"]})
        assert r.status_code == 401


def test_redoc_page_uses_our_own_bundle(app: AppFactory) -> None:
    with app(api_keys=["k-0123456789"]) as client:
        r = client.get("/redoc")
        assert r.status_code == 200
        assert "/redoc/assets/redoc.standalone.js" in r.text
        assert "https://" not in r.text and "fonts.googleapis" not in r.text
        policy = r.headers["content-security-policy"]
        assert "img-src 'self' data:;" in policy and "connect-src 'self';" in policy
        bundle = client.get("/redoc/assets/redoc.standalone.js")
        assert bundle.status_code == 200 and len(bundle.content) > 500_000
        assert "javascript" in bundle.headers["content-type"]
        assert client.get("/breathvoice/jobs").status_code == 401  # the API stays closed
