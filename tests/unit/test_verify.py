import pytest

from classifier_fn.pipeline.verify import Gone, Stale, current_version


def test_the_version_the_event_names_is_returned_as_it_is_now(fake_store):
    etag = fake_store.put("incoming", "a.jpg", b"photo", content_type="image/jpeg")
    info = current_version(fake_store, "incoming", "a.jpg", etag)
    assert (info.bucket, info.key, info.etag, info.size, info.content_type) == (
        "incoming",
        "a.jpg",
        etag,
        5,
        "image/jpeg",
    )


@pytest.mark.parametrize("etag", [pytest.param("", id="empty"), pytest.param(None, id="none")])
def test_without_an_etag_any_version_will_do(fake_store, etag):
    current = fake_store.put("incoming", "a.jpg", b"photo")
    assert current_version(fake_store, "incoming", "a.jpg", etag).etag == current


def test_a_newer_upload_under_the_key_is_stale_and_says_which_versions(fake_store):
    old = fake_store.put("incoming", "a.jpg", b"first")
    new = fake_store.put("incoming", "a.jpg", b"second")
    with pytest.raises(Stale) as stale:
        current_version(fake_store, "incoming", "a.jpg", old)
    assert str(stale.value) == f"incoming/a.jpg is now version {new}, not {old}"


def test_an_object_no_longer_there_is_gone(fake_store):
    with pytest.raises(Gone) as gone:
        current_version(fake_store, "incoming", "done.jpg", "e")
    assert str(gone.value) == "incoming/done.jpg is gone"
