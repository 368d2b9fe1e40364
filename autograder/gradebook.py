"""The main gradebook: one job's autograded grades merged in, one transaction each."""
from . import COURSE_ID


def merge_into(gradebook, result):
    """Copy one job's autograded grades into the main gradebook (as nbgrader's SaveAutoGrades
    does), in one transaction: an interruption leaves the gradebook as it was before this job.
    gradebook: an open nbgrader Gradebook (one for the whole run: opening one costs more than a
    merge), or its URL."""
    import warnings
    from datetime import datetime
    from nbgrader.api import Gradebook
    if isinstance(gradebook, str):
        with Gradebook(gradebook, COURSE_ID) as gb:
            return merge_into(gb, result)
    gb = gradebook
    student, assignment = result["student"], result["assignment"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader's own API
        try:
            gb.update_or_create_student(student)
            ts = result.get("timestamp")
            kw = {"timestamp": datetime.fromisoformat(ts)} if ts else {}
            sub = gb.update_or_create_submission(assignment, student, **kw)
            cells = {(g["notebook"], g["cell"]): g for g in result.get("grades", [])}
            for nb in sub.notebooks:
                for grade in nb.grades:
                    g = cells.get((nb.name, grade.name))
                    if g is None:
                        continue
                    grade.auto_score = g["auto_score"]
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
                for comment in nb.comments:
                    g = cells.get((nb.name, comment.name))
                    if g is not None:
                        comment.auto_comment = g.get("auto_comment")
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise

