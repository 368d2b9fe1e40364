# nbgrader in a student's (or the instructor's own) server: the exchange and the course id.
# Found through JUPYTER_CONFIG_PATH, which the hub's Spawner.environment points here.
import os

c = get_config()  # noqa: F821
c.Exchange.root = os.environ.get("DEEPTRAIN_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseDirectory.course_id = "deeptrain"
