from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("learning", "0010_loop_permissions")]

    operations = [
        migrations.AlterField(
            model_name="loopproposal",
            name="kind",
            field=models.CharField(
                choices=[
                    ("threshold_adjustment", "Threshold"),
                    ("weight_adjustment", "Weight"),
                    ("flag_rule_adjustment", "Flag Rule"),
                    ("new_metric", "New Metric"),
                    ("new_operator", "New Operator"),
                ],
                max_length=24,
            ),
        ),
    ]
